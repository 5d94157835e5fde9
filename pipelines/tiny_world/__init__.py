"""The embedded contest's trained models: a tiny SDXL and a tiny CLIP that learned the shape world."""
