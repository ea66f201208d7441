using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Benchmarks.QuantizeFashion;
using Microsoft.Extensions.Logging;
using Trainer.Abstractions;
using Trainer.Abstractions.Quantization;
using Trainer.Core.Checkpoints;
using Trainer.Core.Data;
using Trainer.Core.Models;
using Trainer.Core.Optimization;
using Trainer.Core.Quantization;
using Trainer.Core.Training;
using Trainer.Plugins.Quantizers;
using TorchSharp;

// Test accuracy and exported file size of each quantizer on the Fashion-MNIST CNN, against the float model it starts from.
// The float model is trained here (SGD lr 0.01 momentum 0.9, batch 64, seed 0) or read from a `trainer train` checkpoint;
// every method then starts from the same float weights. Fine-tuning uses SGD momentum 0.9 at --finetune-lr.
// Usage: dotnet run -c Release --project benchmarks/QuantizeFashion -- [--epochs 2] [--finetune-lr 0.001]
//        [--checkpoint path] [--data dir] [--threads 2] [--subset 1] [--before] [--methods observer,qat,lsq,dorefa,bnn]
string Arg(string name, string fallback) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault() ?? fallback;
var inv = CultureInfo.InvariantCulture;
var epochs = int.Parse(Arg("--epochs", "2"), inv);
var finetuneLr = double.Parse(Arg("--finetune-lr", "0.001"), inv);
var checkpoint = Arg("--checkpoint", "");
var subset = double.Parse(Arg("--subset", "1"), inv); // fraction of the training set, for quick trial runs
var measureBefore = args.Contains("--before"); // also measure accuracy right after calibration, before fine-tuning
var methods = Arg("--methods", "observer,qat,lsq,dorefa,bnn").Split(',');
torch.set_num_threads(int.Parse(Arg("--threads", "2"), inv));

using var loggers = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning));
var logger = loggers.CreateLogger("QuantizeFashion");
using var data = FashionMnist.Load(Arg("--data", FashionMnist.DefaultDirectory), logger);
using var test = data.TestLoader(batchSize: 256);
var work = Directory.CreateTempSubdirectory("quantize-fashion-").FullName;

// 1. The float model.
var clock = Stopwatch.StartNew();
torch.manual_seed(0);
var fp32 = new FashionCnn();
if (checkpoint.Length > 0) CheckpointFile.LoadWeights(checkpoint, fp32);
else Train(fp32, epochs, 0.01);
var fp32Accuracy = Accuracy(fp32);
var fp32Bytes = QuantizedModelFile.Float32Size(fp32);
var fp32Path = Path.Combine(work, "fp32.bin");
fp32.save(fp32Path);
Console.WriteLine($"fp32: accuracy {fp32Accuracy:0.0000}, {fp32Bytes} bytes, {(checkpoint.Length > 0 ? "loaded " + checkpoint : $"trained {epochs} epoch(s)")} in {clock.Elapsed.TotalSeconds:0}s");

// 2. Each method from the same float weights: plan, apply, calibrate, fine-tune, export, reload.
var rows = new List<Row>();
foreach (var method in methods)
{
    var (quantizer, settings, finetuneEpochs) = method switch
    {
        "observer" => ((IQuantizer)new ObserverQuantizer(), new Dictionary<string, string> { ["calibration_batches"] = "32" }, 0),
        "qat" => (new QatQuantizer(), new Dictionary<string, string>(), 1),
        "lsq" => (new LearnedStepQuantizer(), new Dictionary<string, string> { ["bits"] = "4" }, 1),
        "dorefa" => (new DoReFaQuantizer(), new Dictionary<string, string> { ["bits"] = "4" }, 1),
        "bnn" => (new BnnQuantizer(), new Dictionary<string, string>(), 1),
        _ => throw new ArgumentException($"--methods: unknown method '{method}'; use observer, qat, lsq, dorefa, bnn"),
    };
    clock.Restart();
    using var calibration = data.TrainLoader(batchSize: 64, seed: 1);
    var model = new FashionCnn();
    model.load(fp32Path);
    var plan = quantizer.Plan(new QuantizationRequest
    {
        Model = model, ExampleInputShape = [1, 1, 28, 28], CalibrationData = calibration, Settings = settings, Logger = logger,
    });
    var session = new QuantizationSession(model, [1, 1, 28, 28], logger);
    session.Apply(plan);
    if (plan.NeedsCalibration) session.Calibrate(calibration, plan.CalibrationBatches);
    double? before = measureBefore ? Accuracy(model) : null;
    if (finetuneEpochs > 0) Train(model, finetuneEpochs, finetuneLr);
    var accuracy = Accuracy(model);
    var path = Path.Combine(work, method + ".tq");
    var bytes = session.Export(path, JsonSerializer.Serialize(new { model = "fashion-cnn", method }));
    var reloaded = new FashionCnn();
    QuantizedModelFile.Load(path, reloaded, logger);
    var (maxDiff, agreement) = Compare(model, reloaded);
    var bits = string.Join("/", plan.Layers.Select(l => l.Weight?.Bits ?? 32).Distinct());
    var row = new Row(method, bits, plan.Layers.Count, finetuneEpochs, before, accuracy, maxDiff, agreement, accuracy - fp32Accuracy,
        bytes, (double)bytes / fp32Bytes, clock.Elapsed.TotalSeconds);
    rows.Add(row);
    Console.WriteLine(row);
}

Console.WriteLine();
Console.WriteLine($"{"method",-10}{"w bits",8}{"layers",8}{"ft ep",7}{"acc before ft",15}{"acc",9}{"vs fp32 (pt)",14}{"bytes",10}{"size ratio",12}{"reload max|diff|",18}{"argmax agree",14}{"seconds",9}");
Console.WriteLine($"{"fp32",-10}{"32",8}{"-",8}{"-",7}{"-",15}{fp32Accuracy,9:0.0000}{"0.00",14}{fp32Bytes,10}{"1.000",12}{"-",18}{"-",14}{"-",9}");
foreach (var r in rows)
    Console.WriteLine($"{r.Method,-10}{r.WeightBits,8}{r.Layers,8}{r.FinetuneEpochs,7}{(r.AccuracyBeforeFinetune is { } b ? b.ToString("0.0000", inv) : "-"),15}{r.Accuracy,9:0.0000}" +
        $"{100 * r.DeltaVsFp32,14:+0.00;-0.00}{r.Bytes,10}{r.SizeRatio,12:0.000}{r.ReloadMaxAbsDiff,18:0.0e+0}{r.ReloadArgmaxAgreement,14:0.0000}{r.Seconds,9:0}");
Console.WriteLine(JsonSerializer.Serialize(new
{
    benchmark = "quantize-fashion", epochs, subset, finetune_lr = finetuneLr, checkpoint = checkpoint.Length > 0 ? checkpoint : null,
    fp32 = new { accuracy = fp32Accuracy, bytes = fp32Bytes },
    methods = rows.Select(r => new
    {
        method = r.Method, weight_bits = r.WeightBits, layers = r.Layers, finetune_epochs = r.FinetuneEpochs,
        accuracy_before_finetune = r.AccuracyBeforeFinetune, accuracy = r.Accuracy,
        reload_max_abs_diff = r.ReloadMaxAbsDiff, reload_argmax_agreement = r.ReloadArgmaxAgreement,
        delta_points = 100 * r.DeltaVsFp32, bytes = r.Bytes, size_ratio = r.SizeRatio, seconds = r.Seconds,
    }),
}));
Directory.Delete(work, recursive: true);

void Train(torch.nn.Module<torch.Tensor, torch.Tensor> network, int trainEpochs, double lr)
{
    using var train = data.TrainLoader(batchSize: 64, seed: 0, subsetRatio: subset);
    var optimizer = OptimizerFactory.Create(new OptimizerOptions { Name = "sgd", LearningRate = lr, Momentum = 0.9 }, network.parameters());
    new ClassificationTrainer(new TrainerSetup
    {
        Network = network, TrainLoader = train, Optimizer = optimizer, Logger = logger,
        Settings = new TrainerSettings { Epochs = trainEpochs, MonitorMetric = "train/epoch_total_loss" },
    }).Run();
}

double Accuracy(torch.nn.Module<torch.Tensor, torch.Tensor> network)
{
    using var unused = data.TrainLoader(batchSize: 64, seed: 0, subsetRatio: 0.01);
    var optimizer = torch.optim.SGD(network.parameters(), 0.0);
    return new AccuracyTrainer(new TrainerSetup { Network = network, TrainLoader = unused, Optimizer = optimizer }).Accuracy(test);
}

// Largest |logit difference| and argmax agreement between the simulated model and the one reloaded from its file, on the first test batch.
(double MaxAbsDiff, double Agreement) Compare(torch.nn.Module<torch.Tensor, torch.Tensor> simulated, torch.nn.Module<torch.Tensor, torch.Tensor> reloaded)
{
    using var scope = torch.NewDisposeScope();
    using var noGrad = torch.no_grad();
    simulated.eval();
    reloaded.eval();
    var batch = test.GetBatches(0).First();
    var (a, b) = (simulated.call(batch.Inputs), reloaded.call(batch.Inputs));
    return ((a - b).abs().max().item<float>(), a.argmax(1).eq(b.argmax(1)).to(torch.ScalarType.Float32).mean().item<float>());
}

internal sealed record Row(string Method, string WeightBits, int Layers, int FinetuneEpochs, double? AccuracyBeforeFinetune, double Accuracy,
    double ReloadMaxAbsDiff, double ReloadArgmaxAgreement, double DeltaVsFp32, long Bytes, double SizeRatio, double Seconds);
