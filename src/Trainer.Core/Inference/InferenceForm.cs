using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Trainer.Core.Graph;
using Trainer.Core.Latency;
using static TorchSharp.torch;

namespace Trainer.Core.Inference;

/// <summary>
/// Puts a model in its batch-1 inference form: BatchNorm folded into the preceding convs (<see cref="BatchNormFolder"/>)
/// and the faster memory layout (<see cref="ChannelsLast"/>). The result computes the same eval-mode function (checked
/// on a random input) but can no longer be trained as before: the BatchNorms are gone.
/// </summary>
public static class InferenceForm
{
    /// <summary>Changes <paramref name="model"/> in place into its inference form.</summary>
    /// <param name="model">The model; changed in place (work on a copy to keep the original).</param>
    /// <param name="inputShape">Batch-1 input shape, e.g. [1,3,224,224]; the output is compared at this shape and at
    /// <see cref="InferenceFormOptions.CheckBatchSizes"/>.</param>
    /// <param name="options">Options; defaults when null.</param>
    /// <param name="logger">Receives the summary.</param>
    /// <exception cref="ArgumentException">The input shape is empty or has a non-positive dimension.</exception>
    /// <exception cref="InvalidOperationException">The output changed by more than <see cref="InferenceFormOptions.Tolerance"/>.</exception>
    public static InferenceFormReport Apply(nn.Module<Tensor, Tensor> model, long[] inputShape, InferenceFormOptions? options = null,
        ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(inputShape);
        if (inputShape.Length == 0 || inputShape.Any(d => d <= 0))
            throw new ArgumentException($"input shape [{string.Join(",", inputShape)}] must have positive dimensions", nameof(inputShape));
        options ??= new InferenceFormOptions();
        logger ??= NullLogger.Instance;
        model.eval();

        using var scope = NewDisposeScope();
        var batchSizes = options.CheckBatchSizes ?? ChannelsLastGuard.DefaultBatchSizes;
        var inputs = batchSizes.Prepend(inputShape[0]).Distinct()
            .Select((b, i) => randn([b, .. inputShape.Skip(1)], generator: new Generator((ulong)i))).ToList();
        var before = inputs.Select(x => Eval(model, x)).ToList();

        IReadOnlyList<FoldedBatchNorm> folded = [];
        if (options.FoldBatchNorm)
        {
            var graph = ModelGraph.Build(model, inputShape, logger);
            folded = BatchNormFolder.Fold(model, graph, logger);
        }

        // No layout is trusted before it is checked here: the convs whose channels-last result is wrong stay NCHW.
        ChannelsLast.RestoreConvWeights(model);
        ChannelsLast.UnpinAll(model);
        IReadOnlyList<LayoutFallback> fallbacks = [];
        var layout = options.Layout;
        if (layout != MemoryLayout.Contiguous)
            fallbacks = ChannelsLastGuard.PinFaultyConvs(model, inputShape, batchSizes, options.ChannelsLastConv, logger: logger);

        double? contiguousMs = null, channelsLastMs = null;
        if (layout == MemoryLayout.Fastest)
        {
            (contiguousMs, channelsLastMs) = TimeLayouts(model, inputs[0], options.TimingRounds);
            layout = channelsLastMs < contiguousMs ? MemoryLayout.ChannelsLast : MemoryLayout.Contiguous;
        }
        if (layout == MemoryLayout.ChannelsLast) ChannelsLast.ConvertConvWeights(model);
        else
        {
            ChannelsLast.UnpinAll(model);
            fallbacks = [];
        }

        double diff = inputs.Zip(before, (x, y) => (Eval(model, x) - y).abs().max().item<float>()).Max();
        var report = new InferenceFormReport(folded, layout, contiguousMs, channelsLastMs, diff) { ContiguousLayers = fallbacks };
        if (!(diff <= options.Tolerance))
            throw new InvalidOperationException(
                $"the inference form changed the model's output by {diff:g3} (> InferenceFormOptions.Tolerance {options.Tolerance:g3}); " +
                "a folded BatchNorm is probably read by another layer too");
        logger.LogInformation("Inference form: {Report}", report);
        return report;
    }

    private static Tensor Eval(nn.Module<Tensor, Tensor> model, Tensor input)
    {
        using var mode = inference_mode();
        return model.call(input).contiguous();
    }

    /// <summary>Median latency of the model in contiguous and in channels-last layout, alternating; leaves it contiguous.</summary>
    private static (double Contiguous, double ChannelsLast) TimeLayouts(nn.Module<Tensor, Tensor> model, Tensor input, int rounds)
    {
        double[] contiguous = new double[rounds], channelsLast = new double[rounds];
        void Forward()
        {
            using var mode = inference_mode();
            using var pass = NewDisposeScope();
            model.call(input);
        }
        for (int r = 0; r < rounds; r++)
        {
            ChannelsLast.RestoreConvWeights(model);
            contiguous[r] = AlternatingTimer.MedianMs([Forward], rounds: 3, warmupRounds: 1)[0];
            ChannelsLast.ConvertConvWeights(model);
            channelsLast[r] = AlternatingTimer.MedianMs([Forward], rounds: 3, warmupRounds: 1)[0];
        }
        ChannelsLast.RestoreConvWeights(model);
        return (AlternatingTimer.Median(contiguous), AlternatingTimer.Median(channelsLast));
    }
}
