using Trainer.Abstractions;
using Trainer.Core.Analysis;
using Trainer.Core.Compression;
using Trainer.Core.Latency;
using Trainer.Core.Models;
using Trainer.Core.Training;
using TorchSharp;

namespace Trainer.Host.Jobs;

/// <summary>Measures what a pipeline reports for a model: MACs, parameters, validation accuracy and batch-1 latency.</summary>
public sealed class ModelMeasurer(long[] inputShape, IBatchLoader validation, int latencyRuns = 30)
{
    /// <summary>All four figures for <paramref name="model"/>.</summary>
    public ModelMetrics Of(torch.nn.Module<torch.Tensor, torch.Tensor> model)
    {
        var flops = FlopsCounter.Count(model, inputShape);
        var parameters = model.parameters().Sum(p => p.numel());
        return new ModelMetrics(flops.TotalFlops, parameters, ClassificationAccuracy.Of(model, validation), MedianLatencyMs(model));
    }

    /// <summary>Batch-1 latency of <paramref name="original"/> over that of <paramref name="model"/>, both timed in
    /// alternating rounds so that drift of a shared machine touches both alike.</summary>
    public double Speedup(torch.nn.Module<torch.Tensor, torch.Tensor> original, torch.nn.Module<torch.Tensor, torch.Tensor> model)
    {
        long[] one = [1, .. inputShape.Skip(1)];
        using var evalOriginal = new EvalModeScope(original);
        using var evalModel = new EvalModeScope(model);
        using var scope = torch.NewDisposeScope();
        using var _ = torch.inference_mode();
        var input = torch.randn(one);
        var ms = AlternatingTimer.MedianMs([() => original.call(input).Dispose(), () => model.call(input).Dispose()], latencyRuns,
            warmupRounds: 3, callsPerRound: 10);
        return ms[0] / ms[1];
    }

    /// <summary>Output channels (features) of every Conv2d and Linear, by module path.</summary>
    public static IReadOnlyDictionary<string, int> Channels(torch.nn.Module<torch.Tensor, torch.Tensor> model, long[] inputShape) =>
        FlopsCounter.Count(model, inputShape).Layers
            .Where(l => l.Type is "Conv2d" or "Linear")
            .ToDictionary(l => l.Name, l => (int)l.OutputShape[1]);

    private double MedianLatencyMs(torch.nn.Module<torch.Tensor, torch.Tensor> model)
    {
        long[] one = [1, .. inputShape.Skip(1)];
        using var eval = new EvalModeScope(model);
        using var scope = torch.NewDisposeScope();
        using var _ = torch.inference_mode();
        var input = torch.randn(one);
        // A small model's forward pass is well under a millisecond: each timed round runs ten of them, so timer
        // resolution and one-off stalls weigh less.
        return AlternatingTimer.MedianMs([() => model.call(input).Dispose()], latencyRuns, warmupRounds: 3, callsPerRound: 10)[0];
    }
}
