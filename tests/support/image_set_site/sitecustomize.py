"""Read by Python at start-up in a command a test started with ``tests.support.image_set.image_set_environment``."""

import os

if os.environ.get("EDGE_TESTS_IMAGE_SET_ONLY") == "1":
    from contest import definitions
    from tests.support.image_set import image_set_contests

    definitions.CONTESTS = image_set_contests()
