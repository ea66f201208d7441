using static TorchSharp.torch;

namespace Trainer.Core.Pruning.Admm;

/// <summary>A sparsity constraint ADMM projects onto: which weights it covers and the Euclidean projection onto the set of
/// weights that meet it (keep the largest by the criterion, zero the rest).</summary>
public interface IAdmmTarget
{
    /// <summary>Names of the Conv2d/Linear modules whose weights the constraint covers.</summary>
    IReadOnlyList<string> Layers { get; }

    /// <summary>The keep masks (1 kept, 0 pruned), one per layer of <see cref="Layers"/>, shaped as its weight, of the projection
    /// of <paramref name="weights"/> (layer → tensor shaped as its weight).</summary>
    IReadOnlyDictionary<string, Tensor> Masks(IReadOnlyDictionary<string, Tensor> weights);
}

/// <summary>How output channels are ranked.</summary>
public enum ChannelNorm
{
    /// <summary>Sum of absolute values of the channel's weights over the group's producers (NNI's coarse-grained ADMM, p = 1).</summary>
    L1,
    /// <summary>Euclidean norm of the channel's weights over the group's producers.</summary>
    L2,
}

/// <summary>A channel group (its producers share output channels) that keeps <see cref="Keep"/> channels: the projection keeps
/// the channels with the largest norm summed over the producers, ties to the lower index, and zeroes the other channels'
/// rows in every producer.</summary>
/// <param name="Id">The group id.</param>
/// <param name="Producers">The group's producer layers (same output channel count).</param>
/// <param name="Keep">Channels kept, 1 … channels.</param>
/// <param name="Norm">The channel ranking.</param>
public sealed record ChannelGroupTarget(string Id, IReadOnlyList<string> Producers, int Keep, ChannelNorm Norm = ChannelNorm.L1) : IAdmmTarget
{
    /// <inheritdoc />
    public IReadOnlyList<string> Layers => Producers;

    /// <summary>The kept channels (true = kept) of the projection of <paramref name="weights"/>.</summary>
    public bool[] KeptChannels(IReadOnlyDictionary<string, Tensor> weights)
    {
        ArgumentNullException.ThrowIfNull(weights);
        double[]? score = null;
        foreach (var layer in Producers)
        {
            using var scope = NewDisposeScope();
            var w = weights[layer].detach();
            var rows = w.reshape(w.shape[0], -1).to_type(ScalarType.Float64);
            var norms = (Norm == ChannelNorm.L1 ? rows.abs().sum(1) : rows.pow(2).sum(1)).data<double>().ToArray();
            score ??= new double[norms.Length];
            if (norms.Length != score.Length)
                throw new ArgumentException($"group '{Id}': producer '{layer}' has {norms.Length} outputs, another {score.Length}", nameof(weights));
            for (int c = 0; c < norms.Length; c++) score[c] += norms[c];
        }
        if (score is null) throw new ArgumentException($"group '{Id}' has no producer", nameof(weights));
        if (Keep < 1 || Keep > score.Length) throw new ArgumentException($"group '{Id}' keeps {Keep} of {score.Length} channels; keep 1 to {score.Length}");
        var kept = new bool[score.Length];
        foreach (int c in Enumerable.Range(0, score.Length).OrderByDescending(c => score[c]).ThenBy(c => c).Take(Keep)) kept[c] = true;
        return kept;
    }

    /// <inheritdoc />
    public IReadOnlyDictionary<string, Tensor> Masks(IReadOnlyDictionary<string, Tensor> weights)
    {
        var kept = KeptChannels(weights);
        var result = new Dictionary<string, Tensor>();
        foreach (var layer in Producers)
        {
            var w = weights[layer];
            var shape = new long[w.dim()];
            Array.Fill(shape, 1L);
            shape[0] = kept.Length;
            result[layer] = tensor(kept.Select(k => k ? 1f : 0f).ToArray()).to_type(w.dtype).reshape(shape).expand_as(w).contiguous();
        }
        return result;
    }
}

/// <summary>Unstructured sparsity of one layer (NNI's fine-grained ADMM, the level criterion): the projection keeps the
/// ⌈(1 − sparsity) · n⌉ weights of largest magnitude (ties to the lower flat index) and zeroes the rest.</summary>
/// <param name="Layer">The Conv2d/Linear module.</param>
/// <param name="Sparsity">Fraction of its weights zeroed, in [0, 1).</param>
public sealed record LevelTarget(string Layer, double Sparsity) : IAdmmTarget
{
    /// <inheritdoc />
    public IReadOnlyList<string> Layers => [Layer];

    /// <inheritdoc />
    public IReadOnlyDictionary<string, Tensor> Masks(IReadOnlyDictionary<string, Tensor> weights)
    {
        ArgumentNullException.ThrowIfNull(weights);
        if (Sparsity is < 0 or >= 1 || double.IsNaN(Sparsity)) throw new ArgumentException($"layer '{Layer}': sparsity {Sparsity}; need [0, 1)");
        var w = weights[Layer];
        long n = w.numel();
        long keep = (long)Math.Ceiling((1 - Sparsity) * n - 1e-9);
        var magnitudes = w.detach().abs().flatten().to_type(ScalarType.Float64).data<double>().ToArray();
        var flags = new float[n];
        foreach (long i in Enumerable.Range(0, (int)n).OrderByDescending(i => magnitudes[i]).ThenBy(i => i).Take((int)keep)) flags[i] = 1;
        return new Dictionary<string, Tensor> { [Layer] = tensor(flags).to_type(w.dtype).reshape(w.shape) };
    }
}
