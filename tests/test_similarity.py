import numpy as np
import pytest

from base.similarity import Similarity, compare_images, ssim


def gradient_image(size: int = 64) -> np.ndarray:
    ramp = np.linspace(0, 255, size)
    red, green = np.meshgrid(ramp, ramp)
    return np.stack([red, green, (red + green) / 2], axis=-1).round().astype(np.uint8)


def noisy(image: np.ndarray, scale: float, seed: int = 0) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0.0, scale, image.shape)
    return np.clip(image + noise, 0, 255).round().astype(np.uint8)


def test_identical_images_score_one() -> None:
    image = gradient_image()
    assert ssim(image, image.copy()) == pytest.approx(1.0)


def test_more_noise_scores_lower() -> None:
    image = gradient_image()
    slight = ssim(image, noisy(image, 2.0))
    heavy = ssim(image, noisy(image, 40.0))
    garbage = ssim(image, np.random.default_rng(1).integers(0, 256, image.shape, dtype=np.uint8))
    assert 1.0 > slight > heavy > garbage
    assert slight > 0.9
    assert garbage < 0.1


def test_compare_images_reports_each_image_mean_and_minimum() -> None:
    image = gradient_image()
    bad = noisy(image, 40.0)
    result = compare_images([image, image, image], [image, bad, image])
    assert isinstance(result, Similarity)
    assert result.per_image[0] == pytest.approx(1.0) and result.per_image[2] == pytest.approx(1.0)
    assert result.per_image[1] == pytest.approx(ssim(image, bad))
    assert result.minimum == result.per_image[1]
    assert result.mean == pytest.approx((2.0 + result.per_image[1]) / 3)


def test_shape_mismatch_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"\(64, 64, 3\).*\(32, 32, 3\)"):
        ssim(gradient_image(64), gradient_image(32))


def test_non_uint8_is_rejected() -> None:
    image = gradient_image()
    with pytest.raises(ValueError, match=r"uint8.*float32"):
        ssim(image, image.astype(np.float32))
    with pytest.raises(ValueError, match="uint8"):
        ssim(image.astype(np.uint16), image)


def test_non_rgb_is_rejected() -> None:
    gray = gradient_image()[..., 0]
    with pytest.raises(ValueError, match="HxWx3"):
        ssim(gray, gray)


def test_compare_images_rejects_count_mismatch_and_empty_lists() -> None:
    image = gradient_image()
    with pytest.raises(ValueError, match="counts differ"):
        compare_images([image, image], [image])
    with pytest.raises(ValueError, match="no images"):
        compare_images([], [])
