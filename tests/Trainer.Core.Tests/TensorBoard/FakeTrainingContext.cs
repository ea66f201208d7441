using Trainer.Abstractions;
using TorchSharp;

namespace Trainer.Core.Tests.TensorBoard;

/// <summary>A hand-driven <see cref="ITrainingContext"/>: tests set every property themselves.</summary>
public sealed class FakeTrainingContext(torch.nn.Module<torch.Tensor, torch.Tensor> network) : ITrainingContext, IDisposable
{
    public torch.nn.Module<torch.Tensor, torch.Tensor> Network { get; } = network;
    public torch.optim.Optimizer Optimizer { get; } = torch.optim.SGD(network.parameters(), 0.1);
    public int Epoch { get; set; }
    public int MaxEpochs { get; set; } = 2;
    public long GlobalStep { get; set; }
    public double LearningRate { get; set; } = 0.1;
    public Dictionary<string, double> MetricValues { get; } = new();
    public IReadOnlyDictionary<string, double> Metrics => MetricValues;
    public bool StopRequested => StopReason is not null;
    public string? StopReason { get; private set; }
    public void RequestStop(string reason) => StopReason = reason;
    public void Dispose() => Optimizer.Dispose();
}
