using Trainer.Abstractions;
using Trainer.Core.Optimization;
using Trainer.Core.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Trainer.Core.Tests.Training;

/// <summary>Pre-made synthetic batches; epoch e yields them in an order fixed by e.</summary>
internal sealed class FixedBatchLoader : IBatchLoader
{
    private readonly List<Batch> _batches = [];

    public FixedBatchLoader(int batches, int batchSize, int features = 4, int classes = 3, int seed = 1)
    {
        using var gen = new Generator((ulong)seed);
        for (var i = 0; i < batches; i++)
        {
            var x = randn([batchSize, features], generator: gen).DetachFromDisposeScope();
            // Labels follow the first features, so the task is learnable.
            var y = x.narrow(1, 0, classes).argmax(1).DetachFromDisposeScope();
            _batches.Add(new Batch(x, y));
        }
    }

    public long SampleCount => _batches.Sum(b => (long)b.Size);
    public int BatchCount => _batches.Count;

    public IEnumerable<Batch> GetBatches(int epoch) =>
        Enumerable.Range(0, _batches.Count).Select(i => _batches[(i + epoch) % _batches.Count]);
}

/// <summary>A small MLP with dropout, so resumed runs also depend on the random generator state.</summary>
internal sealed class SmallNet : nn.Module<Tensor, Tensor>
{
    private readonly TorchSharp.Modules.Linear fc1, fc2;
    private readonly TorchSharp.Modules.Dropout drop;

    public SmallNet(int features = 4, int classes = 3) : base(nameof(SmallNet))
    {
        fc1 = nn.Linear(features, 16);
        drop = nn.Dropout(0.2);
        fc2 = nn.Linear(16, classes);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => fc2.call(drop.call(fc1.call(x).relu()));
}

internal static class Fixtures
{
    public static TrainerSetup Setup(nn.Module<Tensor, Tensor> net, int epochs = 2, string? checkpointDir = null,
        IReadOnlyList<TrainerCallback>? callbacks = null, ILrSchedule? schedule = null, IBatchLoader? val = null,
        TrainerSettings? settings = null, double lr = 0.05, int batches = 4, IReadOnlyList<ILossHook>? lossHooks = null)
    {
        var optimizer = OptimizerFactory.Create(new OptimizerOptions { Name = "sgd", LearningRate = lr }, net.parameters());
        return new TrainerSetup
        {
            Network = net,
            TrainLoader = new FixedBatchLoader(batches, 8),
            ValLoader = val ?? new FixedBatchLoader(2, 8, seed: 7),
            Optimizer = optimizer,
            Scheduler = schedule,
            Settings = settings ?? new TrainerSettings { Epochs = epochs },
            CheckpointDir = checkpointDir,
            Callbacks = callbacks ?? [],
            LossHooks = lossHooks ?? [],
        };
    }

    public static float[] Weights(nn.Module net) =>
        net.parameters().SelectMany(p => p.detach().cpu().data<float>().ToArray()).ToArray();

    public static string TempDir()
    {
        var dir = Path.Combine(Path.GetTempPath(), "trainer-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }
}
