using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Trainer.Core.Data;

/// <summary>One sample's draw of the augmentation: crop offsets into the padded image, flips, rotation angle in degrees.</summary>
/// <param name="Top">Row of the crop in the padded image, 0 to 2·padding.</param>
/// <param name="Left">Column of the crop in the padded image, 0 to 2·padding.</param>
/// <param name="FlipHorizontal">Mirror left-right.</param>
/// <param name="FlipVertical">Mirror top-bottom.</param>
/// <param name="Degrees">Counter-clockwise rotation about the centre.</param>
public readonly record struct AugmentationDraw(int Top, int Left, bool FlipHorizontal, bool FlipVertical, float Degrees);

/// <summary>
/// The CIFAR training recipe, applied to a whole batch at once: random crop after zero padding (torchvision's
/// <c>RandomCrop(size, padding)</c>), horizontal and vertical flips each with its probability, and a rotation by an angle
/// drawn uniformly from ±<see cref="RotationDegrees"/> (bilinear, zero fill, as <c>RandomRotation</c> with bilinear
/// interpolation), in that order. Works on float pixels in [0, 1] before normalisation, so padding and fill are black as
/// in torchvision. Crops and flips are exact pixel copies (two gathers); only the rotation interpolates.
/// </summary>
/// <param name="CropPadding">Zero padding on each side before the random crop back to the image size; 0 = no crop.</param>
/// <param name="HorizontalFlip">Probability of a left-right mirror.</param>
/// <param name="VerticalFlip">Probability of a top-bottom mirror.</param>
/// <param name="RotationDegrees">Largest rotation either way, in degrees; 0 = none.</param>
public sealed record ImageAugmentation(int CropPadding, double HorizontalFlip, double VerticalFlip, double RotationDegrees)
{
    /// <summary>No augmentation at all.</summary>
    public static ImageAugmentation None { get; } = new(0, 0, 0, 0);

    /// <summary>The recipe's defaults: padding 4, both flips at 0.5, rotations up to ±15°.</summary>
    public static ImageAugmentation CifarRecipe { get; } = new(4, 0.5, 0.5, 15);

    /// <summary>True when the recipe changes nothing.</summary>
    public bool IsNone => CropPadding == 0 && HorizontalFlip == 0 && VerticalFlip == 0 && RotationDegrees == 0;

    /// <summary>Draws one <see cref="AugmentationDraw"/> per sample from <paramref name="generator"/>, in a fixed order.</summary>
    public AugmentationDraw[] Draw(int samples, Generator generator)
    {
        using var scope = NewDisposeScope();
        var u = rand([samples, 5], generator: generator, dtype: ScalarType.Float64).data<double>().ToArray();
        var draws = new AugmentationDraw[samples];
        var span = 2 * CropPadding + 1;
        for (var i = 0; i < samples; i++)
        {
            var r = u.AsSpan(5 * i, 5);
            draws[i] = new AugmentationDraw(
                Math.Min(span - 1, (int)(r[0] * span)), Math.Min(span - 1, (int)(r[1] * span)),
                r[2] < HorizontalFlip, r[3] < VerticalFlip, (float)((2 * r[4] - 1) * RotationDegrees));
        }
        return draws;
    }

    /// <summary>Augments float pixels <paramref name="unit"/> <c>[B, C, H, W]</c> in [0, 1] with fresh draws from <paramref name="generator"/>.</summary>
    public Tensor Apply(Tensor unit, Generator generator)
    {
        ArgumentNullException.ThrowIfNull(unit);
        return IsNone ? unit.alias() : Apply(unit, Draw((int)unit.shape[0], generator));
    }

    /// <summary>Augments <paramref name="unit"/> <c>[B, C, H, W]</c> with the given per-sample draws; a new tensor in the current scope.</summary>
    public Tensor Apply(Tensor unit, IReadOnlyList<AugmentationDraw> draws)
    {
        ArgumentNullException.ThrowIfNull(unit);
        ArgumentNullException.ThrowIfNull(draws);
        if (unit.dim() != 4 || unit.shape[0] != draws.Count)
            throw new ArgumentException($"Expected [B, C, H, W] with B = {draws.Count}; got [{string.Join(", ", unit.shape)}].", nameof(unit));
        var (b, c, h, w) = (unit.shape[0], unit.shape[1], unit.shape[2], unit.shape[3]);
        var p = CropPadding;

        // Crop and flips as index maps: output row i reads padded row top + i, or top + h-1-i when flipped vertically.
        var rows = new long[b * h];
        var cols = new long[b * w];
        for (var s = 0; s < b; s++)
        {
            var d = draws[s];
            for (var i = 0; i < h; i++) rows[s * h + i] = d.Top + (d.FlipVertical ? h - 1 - i : i);
            for (var j = 0; j < w; j++) cols[s * w + j] = d.Left + (d.FlipHorizontal ? w - 1 - j : j);
        }
        using var padded = p > 0 ? F.pad(unit, [p, p, p, p]) : unit.alias();
        using var rowIndex = tensor(rows, [b, 1, h, 1]).expand(b, c, h, w + 2 * p);
        using var colIndex = tensor(cols, [b, 1, 1, w]).expand(b, c, h, w);
        using var cropped = padded.gather(2, rowIndex);
        var result = cropped.gather(3, colIndex);
        if (RotationDegrees == 0) return result;
        using (result) return Rotate(result, draws);
    }

    /// <summary>Rotates each sample about its centre (bilinear, zeros outside); aspect-corrected for non-square images.</summary>
    private static Tensor Rotate(Tensor x, IReadOnlyList<AugmentationDraw> draws)
    {
        var (b, h, w) = (x.shape[0], x.shape[2], x.shape[3]);
        var theta = new float[b * 6];
        for (var s = 0; s < b; s++)
        {
            var radians = draws[s].Degrees * Math.PI / 180;
            var (sin, cos) = Math.SinCos(radians);
            // Output pixel (x, y) about the centre reads the input at R(x, y); in grid units x spans w/2, y spans h/2.
            theta[6 * s + 0] = (float)cos; theta[6 * s + 1] = (float)(-sin * h / w);
            theta[6 * s + 3] = (float)(sin * w / h); theta[6 * s + 4] = (float)cos;
        }
        using var matrices = tensor(theta, [b, 2, 3]);
        using var grid = F.affine_grid(matrices, [b, x.shape[1], h, w], align_corners: false);
        return F.grid_sample(x, grid, GridSampleMode.Bilinear, GridSamplePaddingMode.Zeros, align_corners: false);
    }
}
