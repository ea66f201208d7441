using System.Globalization;
using TorchSharp;
using static TorchSharp.torch;

namespace Trainer.Core.Data;

/// <summary>
/// Per-channel normalisation of uint8 pixels, as torchvision's ToTensor then Normalize: <c>(x/255 - mean[c]) / std[c]</c>,
/// with mean and std in [0, 1] pixel units. Either configured or measured over a training set (<see cref="Measure"/>).
/// </summary>
public sealed record PixelNormalization
{
    /// <summary>A normalisation with one mean and one standard deviation per channel.</summary>
    /// <exception cref="ArgumentException">The lists differ in length, are empty, or a standard deviation is not above 0.</exception>
    public PixelNormalization(IReadOnlyList<float> mean, IReadOnlyList<float> std)
    {
        if (mean.Count == 0 || mean.Count != std.Count)
            throw new ArgumentException($"A normalisation needs one mean and one standard deviation per channel; got {mean.Count} means and {std.Count} deviations.");
        if (std.Any(s => !(s > 0)))
            throw new ArgumentException($"Standard deviations must be above 0; got {string.Join(", ", std)}.");
        Mean = [.. mean];
        Std = [.. std];
    }

    /// <summary>Mean of each channel, in [0, 1] pixel units.</summary>
    public float[] Mean { get; }

    /// <summary>Standard deviation of each channel, in [0, 1] pixel units.</summary>
    public float[] Std { get; }

    /// <summary>Number of channels.</summary>
    public int Channels => Mean.Length;

    /// <summary>uint8 pixels <c>[B, C, H, W]</c> as normalised float32 of the same shape (a new tensor in the current scope).</summary>
    public Tensor Apply(Tensor pixels)
    {
        ArgumentNullException.ThrowIfNull(pixels);
        if (pixels.dtype != ScalarType.Byte)
            throw new ArgumentException($"Expected uint8 pixels, got {pixels.dtype}.", nameof(pixels));
        return ApplyToUnit(pixels.to(ScalarType.Float32).div_(255f));
    }

    /// <summary>Float pixels <c>[B, C, H, W]</c> already in [0, 1] normalised in place (and returned).</summary>
    public Tensor ApplyToUnit(Tensor unit)
    {
        ArgumentNullException.ThrowIfNull(unit);
        if (unit.dim() != 4 || unit.shape[1] != Channels)
            throw new ArgumentException($"Expected pixels [B, {Channels}, H, W]; got [{string.Join(", ", unit.shape)}].", nameof(unit));
        using var mean = tensor(Mean).view(1, Channels, 1, 1);
        using var std = tensor(Std).view(1, Channels, 1, 1);
        return unit.sub_(mean).div_(std);
    }

    /// <summary>
    /// The mean and standard deviation of each channel of uint8 <paramref name="pixels"/> <c>[N, C, H, W]</c> over all its
    /// pixels (the population deviation, as computing CIFAR's figures over its training set does), summed in float64 in
    /// chunks so no float copy of the whole set is made.
    /// </summary>
    /// <exception cref="ArgumentException">No pixels, or a channel is constant (its deviation is 0: nothing to divide by).</exception>
    public static PixelNormalization Measure(Tensor pixels)
    {
        ArgumentNullException.ThrowIfNull(pixels);
        if (pixels.dim() != 4 || pixels.shape[0] == 0)
            throw new ArgumentException($"Expected uint8 pixels [N, C, H, W] with N > 0; got [{string.Join(", ", pixels.shape)}].", nameof(pixels));
        var channels = (int)pixels.shape[1];
        var sums = new double[channels];
        var squares = new double[channels];
        const long chunk = 1024;
        for (long start = 0; start < pixels.shape[0]; start += chunk)
        {
            using var scope = NewDisposeScope();
            var x = pixels.narrow(0, start, Math.Min(chunk, pixels.shape[0] - start)).to(ScalarType.Float64);
            var s = x.sum([0, 2, 3]).data<double>().ToArray();
            var q = x.square().sum([0, 2, 3]).data<double>().ToArray();
            for (var c = 0; c < channels; c++) { sums[c] += s[c]; squares[c] += q[c]; }
        }
        var count = (double)pixels.numel() / channels;
        var mean = new float[channels];
        var std = new float[channels];
        for (var c = 0; c < channels; c++)
        {
            var m = sums[c] / count;
            var variance = Math.Max(0, squares[c] / count - m * m);
            mean[c] = (float)(m / 255);
            std[c] = (float)(Math.Sqrt(variance) / 255);
            if (!(std[c] > 1e-6f))
                throw new ArgumentException($"Channel {c} of the training images is constant ({m:0.###} everywhere): its standard deviation is 0. " +
                                            "Set Task:Settings:mean and Task:Settings:std to normalise it.");
        }
        return new PixelNormalization(mean, std);
    }

    /// <summary>"mean 0.4914,0.4822,0.4465 std 0.247,0.2435,0.2616".</summary>
    public override string ToString() =>
        $"mean {string.Join(",", Mean.Select(m => m.ToString("0.####", CultureInfo.InvariantCulture)))} " +
        $"std {string.Join(",", Std.Select(s => s.ToString("0.####", CultureInfo.InvariantCulture)))}";
}
