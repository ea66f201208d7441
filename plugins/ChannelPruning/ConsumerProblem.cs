using Trainer.Abstractions.Compression;
using TorchSharp;
using static TorchSharp.torch;

namespace Plugins.ChannelPruning;

/// <summary>
/// The reconstruction problem of one consumer of a channel group (He et al. 2017, eq. 1): the group's channels c
/// contribute Z_c = X_c W_cᵀ to the consumer's output, and the target Y is the reference response minus the bias and
/// minus what the consumer's other inputs contribute. A channel is the block of BlockSize·kk input columns the
/// group's mapping gives it (one input channel of a conv, h·w features of a Linear after a flatten).
/// </summary>
internal sealed class ConsumerProblem : IDisposable
{
    // Elements of one chunk of contributions [rows, Cout, C] while the Gram matrix is accumulated.
    private const long ChunkElements = 1L << 23;

    private readonly Tensor groupInputs;   // [N, C, L]
    private readonly Tensor groupWeights;  // [Cout, C, L]
    private readonly Tensor target;        // [N, Cout]

    /// <summary>Builds the problem from samples of <paramref name="layer"/> taken before the group is shrunk.</summary>
    /// <param name="layer">The consumer.</param>
    /// <param name="mapping">Where the group's channels land on the consumer's inputs.</param>
    /// <param name="channels">The group's current channel count.</param>
    /// <param name="samples">Inputs [N, In, kk] from the current model and reference responses [N, Cout].</param>
    /// <param name="keptOutputs">When the consumer's own outputs were pruned earlier in this step (it is also a producer of
    /// a group already shrunk), the reference output channels it still has, in order; null when it has them all.</param>
    public ConsumerProblem(WeightLayer layer, ChannelConsumer mapping, int channels, LayerSamples samples, long[]? keptOutputs = null)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var weight = layer.Matrix().detach().to(ScalarType.Float32);
        long rows = samples.Inputs.shape[0], cout = weight.shape[0], kk = layer.KernelArea;
        // The reference model still has the pruned outputs: keep the responses of the channels the consumer has left.
        var responses = keptOutputs is not null && samples.Responses.shape[1] != cout
            ? samples.Responses.index_select(1, tensor(keptOutputs))
            : samples.Responses;
        if (samples.Inputs.dim() != 3 || samples.Inputs.shape[2] != kk || samples.Inputs.shape[1] * kk != weight.shape[1]
            || responses.shape[0] != rows || responses.shape[1] != cout)
            throw new InvalidOperationException(
                $"Samples of {layer.Name} have shapes [{string.Join(",", samples.Inputs.shape)}] and " +
                $"[{string.Join(",", samples.Responses.shape)}], which do not match its weight [{string.Join(",", layer.Weight.shape)}].");
        var inputs = samples.Inputs.to(ScalarType.Float32).reshape(rows, -1);
        long start = mapping.Offset * kk, width = channels * (long)mapping.BlockSize * kk, end = start + width;
        if (end > weight.shape[1])
            throw new InvalidOperationException($"The group's mapping onto {layer.Name} (offset {mapping.Offset}, block {mapping.BlockSize}, " +
                                                $"{channels} channels) runs past its {weight.shape[1] / kk} inputs.");
        BlockWidth = mapping.BlockSize * kk;
        Channels = channels;
        Rows = rows;
        Layer = layer;

        var y = responses.to(ScalarType.Float32).clone();
        if (layer.Bias is not null) y.sub_(layer.Bias.detach().unsqueeze(0));
        // Inputs outside the group (other branches of a concat) keep their weights: their part is not ours to rebuild.
        if (start > 0) y.sub_(inputs.narrow(1, 0, start).mm(weight.narrow(1, 0, start).t()));
        if (end < weight.shape[1])
            y.sub_(inputs.narrow(1, end, weight.shape[1] - end).mm(weight.narrow(1, end, weight.shape[1] - end).t()));

        groupInputs = inputs.narrow(1, start, width).reshape(rows, channels, BlockWidth).contiguous().MoveToOuterDisposeScope();
        groupWeights = weight.narrow(1, start, width).reshape(cout, channels, BlockWidth).contiguous().MoveToOuterDisposeScope();
        target = y.MoveToOuterDisposeScope();
        TargetEnergy = target.square().sum().to(ScalarType.Float64).item<double>();
    }

    /// <summary>The consumer.</summary>
    public WeightLayer Layer { get; }

    /// <summary>Channels of the group.</summary>
    public int Channels { get; }

    /// <summary>Sampled rows.</summary>
    public long Rows { get; }

    /// <summary>Input columns per channel (BlockSize·kk).</summary>
    public long BlockWidth { get; }

    /// <summary>‖Y‖² of the target.</summary>
    public double TargetEnergy { get; }

    /// <summary>
    /// Adds this consumer's Gram matrix ZᵀZ and correlations Zᵀy, both divided by ‖Y‖² so that consumers of different
    /// scale weigh alike and the LASSO penalty does not depend on the data's units.
    /// </summary>
    public void AccumulateGram(double[,] gram, double[] b)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        long cout = groupWeights.shape[0];
        var g = zeros(Channels, Channels, ScalarType.Float64);
        var corr = zeros(Channels, ScalarType.Float64);
        long step = Math.Max(1, ChunkElements / (cout * Channels));
        for (long first = 0; first < Rows; first += step)
        {
            using var chunkScope = NewDisposeScope();
            long count = Math.Min(step, Rows - first);
            var z = einsum("ncl,ocl->noc", groupInputs.narrow(0, first, count), groupWeights).reshape(-1, Channels);
            g.add_(z.t().mm(z).to(ScalarType.Float64));
            corr.add_(z.t().mv(target.narrow(0, first, count).reshape(-1)).to(ScalarType.Float64));
        }
        double scale = TargetEnergy > 0 ? TargetEnergy : 1;
        var gv = (g / scale).data<double>().ToArray();
        var bv = (corr / scale).data<double>().ToArray();
        for (int i = 0; i < Channels; i++)
        {
            b[i] += bv[i];
            for (int j = 0; j < Channels; j++) gram[i, j] += gv[i * Channels + j];
        }
    }

    /// <summary>‖Y − X_kept W_keptᵀ‖² / ‖Y‖² with the consumer's original weights of the kept channels.</summary>
    public double ErrorWithOriginalWeights(bool[] keep)
    {
        using var scope = NewDisposeScope();
        using var index = KeptIndex(keep);
        return Error(keep, groupWeights.index_select(1, index));
    }

    /// <summary>‖Y − X_kept Wᵀ‖² / ‖Y‖² for weights <paramref name="block"/> [Cout, kept, L].</summary>
    public double Error(bool[] keep, Tensor block)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var x = KeptInputs(keep);
        var residual = target - x.mm(block.reshape(block.shape[0], -1).t());
        double energy = residual.square().sum().to(ScalarType.Float64).item<double>();
        return TargetEnergy > 0 ? energy / TargetEnergy : energy;
    }

    /// <summary>Unknowns of the refit per output: kept channels · BlockWidth.</summary>
    public long Unknowns(bool[] keep) => keep.Count(k => k) * BlockWidth;

    /// <summary>
    /// Least-squares weights [Cout, kept, L] of the kept channels that best reproduce the target; null when there are fewer than <paramref name="minRowsPerUnknown"/> rows per unknown,
    /// where the fit would only memorise the sample.
    /// </summary>
    public Tensor? Refit(bool[] keep, double minRowsPerUnknown = 2)
    {
        if (Rows < minRowsPerUnknown * Unknowns(keep)) return null;
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var x = KeptInputs(keep).to(ScalarType.Float64);
        // Normal equations in float64 with a tiny ridge: TorchSharp 0.107's linalg.lstsq returns zeros or varying results
        // when the sample is rank-deficient (dead ReLU units give all-zero columns), and the ridge gives those columns 0.
        var gram = x.t().mm(x);
        double ridge = 1e-10 * Math.Max(gram.diagonal().mean().item<double>(), double.Epsilon);
        gram.diagonal().add_(ridge);
        var solution = linalg.solve(gram, x.t().mm(target.to(ScalarType.Float64))).to(ScalarType.Float32);
        return solution.t().reshape(groupWeights.shape[0], keep.Count(k => k), BlockWidth).contiguous().MoveToOuterDisposeScope();
    }

    /// <summary>Frees the problem's tensors.</summary>
    public void Dispose()
    {
        groupInputs.Dispose();
        groupWeights.Dispose();
        target.Dispose();
    }

    private Tensor KeptInputs(bool[] keep)
    {
        using var index = KeptIndex(keep);
        return groupInputs.index_select(1, index).reshape(Rows, -1);
    }

    private Tensor KeptIndex(bool[] keep)
    {
        if (keep.Length != Channels) throw new ArgumentException($"{keep.Length} flags for {Channels} channels.");
        return tensor(Enumerable.Range(0, Channels).Where(i => keep[i]).Select(i => (long)i).ToArray());
    }
}
