import numpy as np
import pytest

from contest.judging.similarity import Similarity, compare_images, cosines, ssim


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


def embeddings(*rows: list[float]) -> np.ndarray:
    return np.array(rows, dtype=np.float32)


def test_compare_images_weighs_ssim_and_clip_per_image_and_gates_on_the_minimum() -> None:
    image = gradient_image()
    bad = noisy(image, 40.0)
    reference = embeddings([1, 0], [1, 0], [1, 0])
    candidate = embeddings([1, 0], [0.6, 0.8], [0, 1])  # cosines 1, 0.6, 0
    result = compare_images([image, image, image], [image, bad, image], reference, candidate, clip_weight=0.35)
    assert isinstance(result, Similarity)
    assert result.ssim[0] == pytest.approx(1.0) and result.ssim[1] == pytest.approx(ssim(image, bad))
    assert result.clip == pytest.approx((1.0, 0.6, 0.0))
    expected = [0.65 * value + 0.35 * cosine for value, cosine in zip(result.ssim, result.clip, strict=True)]
    assert result.per_image == pytest.approx(expected)
    assert result.minimum == min(result.per_image) and result.mean == pytest.approx(np.mean(expected))
    only_pixels = compare_images([image, image], [image, bad], reference[:2], candidate[:2], clip_weight=0.0)
    assert only_pixels.per_image == pytest.approx(only_pixels.ssim)


def test_grayscale_ssim_keeps_the_structure_under_a_tint() -> None:
    image = gradient_image() // 2
    tinted = image.copy()
    tinted[..., 2] += 100  # bluer everywhere by the same amount: the same edges and layout
    assert ssim(image, tinted) > 0.95
    texture = np.random.default_rng(2).integers(0, 256, image.shape, dtype=np.uint8)
    assert ssim(texture, 255 - texture) < 0.0  # inverted brightness is another picture


def test_cosines_are_row_by_row_and_zero_for_an_empty_embedding() -> None:
    assert cosines(embeddings([3, 0], [0, 2], [0, 0]), embeddings([1, 0], [2, 0], [1, 1])) == pytest.approx(
        (1.0, 0.0, 0.0)
    )
    with pytest.raises(ValueError, match="one shape"):
        cosines(embeddings([1, 0]), embeddings([1, 0], [0, 1]))


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


def test_compare_images_rejects_count_mismatch_empty_lists_and_a_weight_outside_0_1() -> None:
    image = gradient_image()
    two = embeddings([1, 0], [1, 0])
    with pytest.raises(ValueError, match="counts differ"):
        compare_images([image, image], [image], two, two[:1], 0.35)
    with pytest.raises(ValueError, match="no images"):
        compare_images([], [], two[:0], two[:0], 0.35)
    with pytest.raises(ValueError, match="clip_weight"):
        compare_images([image], [image], two[:1], two[:1], 1.5)
