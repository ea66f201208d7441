using Trainer.Abstractions;
using TorchSharp;

namespace Trainer.Core.Training;

/// <summary>The loop's mutable state, shared with callbacks through <see cref="ITrainingContext"/>.</summary>
internal sealed class TrainingContext(TrainerSetup setup) : ITrainingContext
{
    private readonly Dictionary<string, double> _metrics = new(StringComparer.Ordinal);

    public torch.nn.Module<torch.Tensor, torch.Tensor> Network => setup.Network;
    public torch.optim.Optimizer Optimizer => setup.Optimizer;
    public int Epoch { get; set; }
    public int MaxEpochs => setup.Settings.Epochs;
    public long GlobalStep { get; set; }
    public double LearningRate => setup.Optimizer.ParamGroups.First().LearningRate;
    public IReadOnlyDictionary<string, double> Metrics => _metrics;
    public bool StopRequested => StopReason is not null;
    public string? StopReason { get; private set; }

    public void RequestStop(string reason) => StopReason ??= reason;

    public void SetMetric(string name, double value) => _metrics[name] = value;

    public void SetMetrics(IEnumerable<KeyValuePair<string, double>> metrics)
    {
        foreach (var (name, value) in metrics) _metrics[name] = value;
    }
}
