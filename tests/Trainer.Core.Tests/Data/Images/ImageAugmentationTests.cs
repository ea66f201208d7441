using Trainer.Core.Data;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Trainer.Core.Tests.Data.Images;

/// <summary>The CIFAR recipe on a batch: crops and flips are exact pixel copies of the padded image, rotations turn about the
/// centre, draws follow their probabilities and ranges.</summary>
public sealed class ImageAugmentationTests
{
    /// <summary>[B, C, H, W] of distinct values in (0, 1].</summary>
    private static Tensor Images(int b, int c, int h, int w) => arange(1, b * c * h * w + 1, dtype: ScalarType.Float32).div_(b * c * h * w).reshape(b, c, h, w);

    [Fact]
    public void A_crop_is_the_padded_image_window_at_the_drawn_offset_and_flips_mirror_it()
    {
        using var scope = NewDisposeScope();
        var x = Images(4, 2, 5, 6);
        var recipe = new ImageAugmentation(CropPadding: 2, HorizontalFlip: 0, VerticalFlip: 0, RotationDegrees: 0);
        AugmentationDraw[] draws = [new(0, 0, false, false, 0), new(4, 4, false, false, 0), new(1, 3, true, false, 0), new(2, 0, true, true, 0)];

        var y = recipe.Apply(x, draws);

        var padded = F.pad(x, [2, 2, 2, 2]);
        for (var s = 0; s < 4; s++)
        {
            var expected = padded[s].narrow(1, draws[s].Top, 5).narrow(2, draws[s].Left, 6);
            if (draws[s].FlipHorizontal) expected = expected.flip(2);
            if (draws[s].FlipVertical) expected = expected.flip(1);
            Assert.True(y[s].equal(expected).all().item<bool>(), $"sample {s}");
        }
        // The first draw is the top-left window: two rows and columns of zero padding come in.
        Assert.Equal(0f, y[0, 0, 0, 0].item<float>());
        Assert.Equal(x[0, 0, 0, 0].item<float>(), y[0, 0, 2, 2].item<float>());
    }

    [Fact]
    [Trait("Category", "Numeric")]
    public void A_quarter_turn_of_a_square_image_is_rot90_and_zero_degrees_changes_nothing()
    {
        using var scope = NewDisposeScope();
        var x = Images(2, 3, 6, 6);
        var recipe = new ImageAugmentation(0, 0, 0, RotationDegrees: 90);

        var y = recipe.Apply(x, [new AugmentationDraw(0, 0, false, false, 90), new AugmentationDraw(0, 0, false, false, 0)]);

        // Pixel centres map onto pixel centres, so bilinear sampling copies them up to rounding of the grid (float32 sin/cos).
        var turned = x[0].rot90(1, (1, 2));
        var other = x[0].rot90(-1, (1, 2));
        var error = Math.Min((y[0] - turned).abs().max().item<float>(), (y[0] - other).abs().max().item<float>());
        Assert.True(error < 1e-5, $"max error {error}");
        Assert.True((y[1] - x[1]).abs().max().item<float>() < 1e-6);
    }

    [Fact]
    public void A_rotation_keeps_the_centre_and_fills_the_corners_it_turns_away_with_zero()
    {
        using var scope = NewDisposeScope();
        var x = ones(1, 1, 9, 9);
        var y = new ImageAugmentation(0, 0, 0, 45).Apply(x, [new AugmentationDraw(0, 0, false, false, 45)]);
        Assert.Equal(1f, y[0, 0, 4, 4].item<float>(), 5);
        Assert.Equal(0f, y[0, 0, 0, 0].item<float>());
        Assert.Equal(0f, y[0, 0, 8, 8].item<float>());
    }

    [Fact]
    public void Draws_follow_the_probabilities_and_ranges_and_the_generator()
    {
        var recipe = new ImageAugmentation(CropPadding: 3, HorizontalFlip: 0.5, VerticalFlip: 0.2, RotationDegrees: 10);
        using var generator = new Generator(5);
        var draws = recipe.Draw(4000, generator);

        Assert.Equal(Enumerable.Range(0, 7), draws.Select(d => d.Top).Distinct().Order());
        Assert.Equal(Enumerable.Range(0, 7), draws.Select(d => d.Left).Distinct().Order());
        Assert.InRange(draws.Count(d => d.FlipHorizontal) / 4000.0, 0.45, 0.55);
        Assert.InRange(draws.Count(d => d.FlipVertical) / 4000.0, 0.17, 0.23);
        Assert.All(draws, d => Assert.InRange(d.Degrees, -10f, 10f));
        Assert.Contains(draws, d => d.Degrees < -9);
        Assert.Contains(draws, d => d.Degrees > 9);

        using var same = new Generator(5);
        Assert.Equal(draws, recipe.Draw(4000, same));
        Assert.DoesNotContain(ImageAugmentation.None.Draw(100, generator), d => d.Top != 0 || d.FlipHorizontal || d.FlipVertical || d.Degrees != 0);
    }
}
