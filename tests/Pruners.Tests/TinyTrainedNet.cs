using System.Text.Json;
using Trainer.Abstractions;
using Trainer.Abstractions.Compression;
using Trainer.Core.Training;
using static TorchSharp.torch;

namespace Pruners.Tests;

/// <summary>The small model, weights, batches and training of reference/nni_data_driven.py: conv-BN-ReLU twice, pooled
/// into a Linear, trained by the core's own loop (ClassificationTrainer) with plain SGD on the script's three batches.</summary>
internal sealed class TinyNet : nn.Module<Tensor, Tensor>
{
    private readonly nn.Module<Tensor, Tensor> conv1 = nn.Conv2d(3, 8, 3, padding: 1), bn1 = nn.BatchNorm2d(8), relu1 = nn.ReLU();
    private readonly nn.Module<Tensor, Tensor> conv2 = nn.Conv2d(8, 16, 3, padding: 1), bn2 = nn.BatchNorm2d(16), relu2 = nn.ReLU();
    private readonly nn.Module<Tensor, Tensor> pool = nn.AdaptiveAvgPool2d(1), flat = nn.Flatten(), fc = nn.Linear(16, 10);

    public TinyNet() : base(nameof(TinyNet)) => RegisterComponents();

    public override Tensor forward(Tensor x) =>
        fc.call(flat.call(pool.call(relu2.call(bn2.call(conv2.call(relu1.call(bn1.call(conv1.call(x)))))))));
}

/// <summary>The script's fixture: its weights loaded into a <see cref="TinyNet"/>, its batches, and its training.</summary>
internal sealed class DataDrivenReference : IDisposable
{
    public JsonElement Root { get; }
    private readonly JsonDocument document;
    private readonly List<Batch> batches;

    public DataDrivenReference()
    {
        document = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "reference", "nni_data_driven.json")));
        Root = document.RootElement;
        batches = Root.GetProperty("batches").EnumerateArray().Select(b => new Batch(
            tensor(b.GetProperty("x").EnumerateArray().Select(v => v.GetSingle()).ToArray()).reshape(4, 3, 8, 8).DetachFromDisposeScope(),
            tensor(b.GetProperty("y").EnumerateArray().Select(v => v.GetInt64()).ToArray()).DetachFromDisposeScope())).ToList();
    }

    /// <summary>A fresh model holding the script's initial weights and BatchNorm statistics.</summary>
    public TinyNet Model()
    {
        var net = new TinyNet();
        var state = net.state_dict();
        using var _ = no_grad();
        foreach (var entry in Root.GetProperty("state").EnumerateObject())
        {
            var values = entry.Value.GetProperty("values").EnumerateArray().Select(v => v.GetSingle()).ToArray();
            var shape = entry.Value.GetProperty("shape").EnumerateArray().Select(v => v.GetInt64()).ToArray();
            state[entry.Name].copy_(tensor(values).reshape(shape));
        }
        return net;
    }

    /// <summary>What a host's <see cref="CompressionRequest.Train"/> does, with the core's loop: SGD at the script's rate,
    /// one step per batch in order, the request's loss terms and callbacks added.</summary>
    public Action<TaskTraining> Training(nn.Module<Tensor, Tensor> model) => training =>
    {
        var optimizer = optim.SGD(model.parameters(), Root.GetProperty("lr").GetDouble());
        var epochs = training.MaxSteps > 0 ? (training.MaxSteps + batches.Count - 1) / batches.Count : training.Epochs;
        new ClassificationTrainer(new TrainerSetup
        {
            Network = model,
            TrainLoader = new Loader(batches),
            Optimizer = optimizer,
            Settings = new TrainerSettings { Epochs = epochs, MaxSteps = training.MaxSteps, MonitorMetric = "train/epoch_total_loss" },
            LossHooks = training.LossHooks,
            Callbacks = training.Callbacks,
        }).Run();
    };

    public void Dispose()
    {
        foreach (var b in batches)
        {
            b.Inputs.Dispose();
            b.Targets.Dispose();
        }
        document.Dispose();
    }

    private sealed class Loader(List<Batch> batches) : IBatchLoader
    {
        public long SampleCount => batches.Sum(b => b.Size);
        public int BatchCount => batches.Count;
        public IEnumerable<Batch> GetBatches(int epoch) => batches;
    }
}
