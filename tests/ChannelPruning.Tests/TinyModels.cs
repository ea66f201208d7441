using Trainer.Abstractions;
using Trainer.Abstractions.Compression;
using Trainer.Core.Compression;
using Trainer.Core.Data;
using Trainer.Core.Pruning;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ChannelPruning.Tests;

/// <summary>conv 3→8 BN ReLU, conv 8→12 BN ReLU, maxpool, conv 12→8 ReLU, flatten, fc 128→5, for 8x8 inputs: conv
/// consumers and a Linear after a flatten (16 features per channel).</summary>
internal sealed class TinyNet : nn.Module<Tensor, Tensor>
{
    private readonly nn.Module<Tensor, Tensor> conv1 = nn.Conv2d(3, 8, 3, padding: 1);
    private readonly BatchNorm2d bn1 = nn.BatchNorm2d(8);
    private readonly nn.Module<Tensor, Tensor> conv2 = nn.Conv2d(8, 12, 3, padding: 1);
    private readonly BatchNorm2d bn2 = nn.BatchNorm2d(12);
    private readonly MaxPool2d pool = nn.MaxPool2d(2);
    private readonly nn.Module<Tensor, Tensor> conv3 = nn.Conv2d(12, 8, 3, padding: 1);
    private readonly Flatten flatten = nn.Flatten();
    private readonly nn.Module<Tensor, Tensor> fc = nn.Linear(8 * 4 * 4, 5);

    public TinyNet() : base(nameof(TinyNet)) => RegisterComponents();

    public override Tensor forward(Tensor x)
    {
        var y = bn1.call(conv1.call(x)).relu();
        y = pool.call(bn2.call(conv2.call(y)).relu());
        return fc.call(flatten.call(conv3.call(y).relu()));
    }
}

/// <summary>conv 3→8 ReLU feeding two branches, conv 8→6 and conv 8→6 (1x1), added, ReLU, flatten, fc 384→4: one group
/// (conv1) with two consumers of different kernels.</summary>
internal sealed class BranchNet : nn.Module<Tensor, Tensor>
{
    private readonly nn.Module<Tensor, Tensor> conv1 = nn.Conv2d(3, 8, 3, padding: 1);
    private readonly nn.Module<Tensor, Tensor> left = nn.Conv2d(8, 6, 3, padding: 1);
    private readonly nn.Module<Tensor, Tensor> right = nn.Conv2d(8, 6, 1);
    private readonly Flatten flatten = nn.Flatten();
    private readonly nn.Module<Tensor, Tensor> fc = nn.Linear(6 * 8 * 8, 4);

    public BranchNet() : base(nameof(BranchNet)) => RegisterComponents();

    public override Tensor forward(Tensor x)
    {
        var y = conv1.call(x).relu();
        return fc.call(flatten.call((left.call(y) + right.call(y)).relu()));
    }
}

/// <summary>conv 3→8 ReLU, grouped conv 8→8 (2 groups) ReLU, flatten, fc 512→3: a consumer channel pruning cannot
/// reconstruct.</summary>
internal sealed class GroupedNet : nn.Module<Tensor, Tensor>
{
    private readonly nn.Module<Tensor, Tensor> conv1 = nn.Conv2d(3, 8, 3, padding: 1);
    private readonly nn.Module<Tensor, Tensor> conv2 = nn.Conv2d(8, 8, 3, padding: 1, groups: 2);
    private readonly Flatten flatten = nn.Flatten();
    private readonly nn.Module<Tensor, Tensor> fc = nn.Linear(8 * 8 * 8, 3);

    public GroupedNet() : base(nameof(GroupedNet)) => RegisterComponents();

    public override Tensor forward(Tensor x) => fc.call(flatten.call(conv2.call(conv1.call(x).relu()).relu()));
}

/// <summary>A seeded model (TinyNet by default) with trained-looking BatchNorm statistics, its editor, and random data.</summary>
internal sealed class TinyFixture : IDisposable
{
    public static readonly long[] InputShape = [1, 3, 8, 8];

    private readonly Tensor inputs, targets;

    public TinyFixture(int seed = 0, int samples = 256, int roundTo = 1, Func<nn.Module<Tensor, Tensor>>? factory = null,
        long[]? inputShape = null)
    {
        factory ??= () => new TinyNet();
        Shape = inputShape ?? InputShape;
        manual_seed(seed);
        Model = factory();
        inputs = randn([samples, .. Shape[1..]]).DetachFromDisposeScope();
        targets = randint(0, 5, samples).DetachFromDisposeScope();
        Data = new TensorBatchLoader(inputs, targets, 32, shuffle: false);
        // A few train-mode passes give the BatchNorms real running statistics.
        using (no_grad())
            foreach (var batch in Data.GetBatches(0))
                using (NewDisposeScope()) Model.call(batch.Inputs);
        Model.eval();
        Reference = ModelCopy.Create(factory, Shape, [], Model);
        Editor = new ModelEditor(Model, Shape, new ShrinkOptions { RoundTo = roundTo }, Reference, Data);
        HeldOut = randn([64, .. Shape[1..]]).DetachFromDisposeScope();
    }

    /// <summary>Shape of one example input, batch included.</summary>
    public long[] Shape { get; }

    public nn.Module<Tensor, Tensor> Model { get; }

    /// <summary>An untouched copy of the model as it started.</summary>
    public nn.Module<Tensor, Tensor> Reference { get; }

    public ModelEditor Editor { get; }

    public TensorBatchLoader Data { get; }

    /// <summary>Inputs no compressor saw.</summary>
    public Tensor HeldOut { get; }

    public CompressionRequest Request(Dictionary<string, string> settings, double target = 1.0,
        Func<nn.Module<Tensor, Tensor>, double>? evaluate = null, IBatchLoader? data = null, bool noData = false,
        Trainer.Abstractions.Tasks.TaskScore? score = null) => new()
    {
        Model = Model,
        ExampleInputShape = Shape,
        TrainingData = noData ? null : data ?? Data,
        TargetFlopsRatio = target,
        Settings = settings,
        Editor = Editor,
        EvaluateScore = evaluate,
        Score = score ?? Trainer.Abstractions.Tasks.TaskScore.Accuracy,
    };

    /// <summary>Mean squared difference between the model's and the reference's outputs on held-out inputs, relative to the
    /// reference outputs' energy.</summary>
    public double OutputError()
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        Model.eval();
        Reference.eval();
        var expected = Reference.call(HeldOut);
        var actual = Model.call(HeldOut);
        return (actual - expected).square().sum().item<float>() / expected.square().sum().item<float>();
    }

    /// <summary>Current channel count of each group, by id.</summary>
    public Dictionary<string, int> Channels() => Editor.ChannelGroups.ToDictionary(g => g.Id, g => g.Channels);

    public void Dispose()
    {
        Data.Dispose();
        inputs.Dispose();
        targets.Dispose();
        HeldOut.Dispose();
    }
}
