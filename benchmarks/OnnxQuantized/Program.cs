using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;
using Trainer.Abstractions;
using Trainer.Abstractions.Quantization;
using Trainer.Core.Checkpoints;
using Trainer.Core.Data;
using Trainer.Core.Export.Onnx;
using Trainer.Core.Models;
using Trainer.Core.Optimization;
using Trainer.Core.Quantization;
using Trainer.Core.Training;
using Trainer.Plugins.Quantizers;
using TorchSharp;
using static TorchSharp.torch;

// Int8 QDQ (the observer quantizer's plan, BatchNorms folded, exported by OnnxExporter) against the float model, both as
// ONNX files run by ONNX Runtime with the same session options (2 intra-op threads, spinning off, all graph optimisations):
// latency at batch 1 and 32 in alternating rounds, and for the Fashion-MNIST CNN the test accuracy of both files and of
// the fake-quantized TorchSharp model. Timings are only meaningful on a quiet machine.
// Usage: dotnet run -c Release --project benchmarks/OnnxQuantized -- [--epochs 1] [--subset 1] [--checkpoint path]
//        [--data dir] [--threads 2] [--rounds 7] [--seconds 1] [--models fashion-cnn,resnet18] [--resnet-size 224]
//        [--resnet-weights pytorch.pt] [--resnet-tensors weight,input,output]
string Arg(string name, string fallback) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault() ?? fallback;
var inv = CultureInfo.InvariantCulture;
var epochs = int.Parse(Arg("--epochs", "1"), inv);
var subset = double.Parse(Arg("--subset", "1"), inv);
var checkpoint = Arg("--checkpoint", "");
var threads = int.Parse(Arg("--threads", "2"), inv);
var rounds = int.Parse(Arg("--rounds", "7"), inv);
var secondsPerCell = double.Parse(Arg("--seconds", "1"), inv);
var models = Arg("--models", "fashion-cnn,resnet18").Split(',');
var resnetSize = int.Parse(Arg("--resnet-size", "224"), inv);
var resnetWeights = Arg("--resnet-weights", "");
// resnet18's block outputs are sums (conv2 + identity): quantizing each conv's output as well gives ONNX Runtime the
// QuantizeLinear after every conv that it needs to run all 20 as QLinearConv; the CNN needs only its inputs quantized.
var resnetTensors = Arg("--resnet-tensors", "weight,input,output");
torch.set_num_threads(threads);

using var loggers = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning));
var logger = loggers.CreateLogger("OnnxQuantized");
var work = Directory.CreateTempSubdirectory("onnx-quantized-").FullName;
var results = new List<object>();
var rows = new List<string>();

foreach (var name in models)
{
    var clock = Stopwatch.StartNew();
    Prepared prepared = name switch
    {
        "fashion-cnn" => PrepareFashion(),
        "resnet18" => PrepareResNet(),
        _ => throw new ArgumentException($"--models: unknown model '{name}'; use fashion-cnn, resnet18"),
    };
    var floatPath = OnnxExporter.Export(prepared.Float, prepared.Shape, Path.Combine(work, $"{name}.onnx")).Path;
    var int8 = OnnxExporter.Export(prepared.Quantized, prepared.Shape, Path.Combine(work, $"{name}.int8.onnx"));
    var fused = FusedOps(int8.Path);
    Console.WriteLine($"{name}: float {new FileInfo(floatPath).Length:N0} B, int8 {int8.FileBytes:N0} B; ONNX Runtime runs the int8 graph as " +
                      string.Join(", ", fused.Select(f => $"{f.Value}x {f.Key}")) + $" (prepared in {clock.Elapsed.TotalSeconds:0}s)");
    foreach (var note in int8.Notes) Console.WriteLine($"  note: {note}");

    using var floatOrt = OnnxRuntimeModule.Open(floatPath, threads);
    using var int8Ort = OnnxRuntimeModule.Open(int8.Path, threads);
    object? accuracy = null;
    if (prepared.Test is { } test)
    {
        var (fp32, fake, ortFloat, ortInt8, maxDiff) = Accuracies(prepared, floatOrt, int8Ort, test);
        accuracy = new { torchsharp_float = fp32, torchsharp_fake_quant = fake, ort_float = ortFloat, ort_int8 = ortInt8,
            ort_int8_vs_fake_quant_points = 100 * (ortInt8 - fake), ort_int8_vs_float_points = 100 * (ortInt8 - ortFloat), max_abs_diff_vs_fake_quant = maxDiff };
        Console.WriteLine($"{name} test accuracy: TorchSharp float {fp32:0.0000}, fake-quant {fake:0.0000}; ONNX Runtime float {ortFloat:0.0000}, " +
                          $"int8 {ortInt8:0.0000} ({100 * (ortInt8 - fake):+0.00;-0.00} points vs fake-quant); max |ORT int8 − fake-quant| {maxDiff:G3}");
    }
    var latencies = new List<object>();
    foreach (var batch in new[] { 1, 32 })
    {
        var (floatMs, int8Ms) = Latency(floatPath, int8.Path, [batch, .. prepared.Shape.Skip(1)]);
        rows.Add($"{name,-12}{batch,6}{floatMs,12:0.000}{int8Ms,12:0.000}{floatMs / int8Ms,10:0.00}x");
        latencies.Add(new { batch, float_ms = floatMs, int8_ms = int8Ms, speedup = floatMs / int8Ms });
    }
    results.Add(new { model = name, input = prepared.Shape, float_bytes = new FileInfo(floatPath).Length, int8_bytes = int8.FileBytes,
        int8_fused_ops = fused, notes = int8.Notes, accuracy, latency = latencies });
}

Console.WriteLine();
Console.WriteLine($"ONNX Runtime {threads} threads, spinning off; median of {rounds} alternating rounds of ~{secondsPerCell:0.#} s per cell");
Console.WriteLine($"{"model",-12}{"batch",6}{"float ms",12}{"int8 ms",12}{"speedup",11}");
foreach (var row in rows) Console.WriteLine(row);
Console.WriteLine(JsonSerializer.Serialize(new
{
    benchmark = "onnx-quantized", threads, rounds, seconds_per_cell = secondsPerCell, epochs, subset,
    checkpoint = checkpoint.Length > 0 ? checkpoint : null, resnet_size = resnetSize, resnet_tensors = resnetTensors, resnet_weights = resnetWeights.Length > 0 ? resnetWeights : "random",
    onnxruntime = typeof(InferenceSession).Assembly.GetName().Version?.ToString(), models = results,
}));
Directory.Delete(work, recursive: true);

// The Fashion-MNIST CNN trained here (SGD lr 0.01 momentum 0.9, batch 64, seed 0) or loaded, and its int8 copy.
Prepared PrepareFashion()
{
    var data = FashionMnist.Load(Arg("--data", FashionMnist.DefaultDirectory), logger);
    torch.manual_seed(0);
    var fp32 = new FashionCnn();
    if (checkpoint.Length > 0) CheckpointFile.LoadWeights(checkpoint, fp32);
    else
    {
        using var train = data.TrainLoader(batchSize: 64, seed: 0, subsetRatio: subset);
        var optimizer = OptimizerFactory.Create(new OptimizerOptions { Name = "sgd", LearningRate = 0.01, Momentum = 0.9 }, fp32.parameters());
        new ClassificationTrainer(new TrainerSetup
        {
            Network = fp32, TrainLoader = train, Optimizer = optimizer, Logger = logger,
            Settings = new TrainerSettings { Epochs = epochs, MonitorMetric = "train/epoch_total_loss" },
        }).Run();
    }
    fp32.eval();
    var copy = new FashionCnn();
    copy.load_state_dict(fp32.state_dict());
    using var calibration = data.TrainLoader(batchSize: 64, seed: 1);
    return new Prepared(fp32, Quantize(copy, [1, 1, 28, 28], calibration, "weight,input"), [1, 1, 28, 28], data.TestLoader(batchSize: 256));
}

// TorchVision's resnet18 from the catalog (random weights with BatchNorm statistics of random batches, or PyTorch's weights),
// calibrated on random inputs: a speed measurement, no accuracy.
Prepared PrepareResNet()
{
    torch.manual_seed(0);
    var fp32 = ModelCatalog.Get("resnet18").Create();
    long[] shape = [1, 3, resnetSize, resnetSize];
    if (resnetWeights.Length > 0) PyTorchWeights.Load(resnetWeights, fp32);
    else
    {
        fp32.train();
        using var noGrad = no_grad();
        for (int i = 0; i < 4; i++) fp32.call(randn(8, 3, resnetSize, resnetSize)).Dispose();
    }
    fp32.eval();
    var copy = ModelCatalog.Get("resnet18").Create();
    copy.load_state_dict(fp32.state_dict());
    using var calibration = new TensorBatchLoader(randn(64, 3, resnetSize, resnetSize), zeros(64, ScalarType.Int64), 8, shuffle: false);
    return new Prepared(fp32, Quantize(copy, shape, calibration, resnetTensors), shape, null);
}

// The observer quantizer's int8 plan (8-bit symmetric per-channel weights, uint8 affine activations, min/max over 32 batches)
// with each BatchNorm that follows a quantized conv folded into it first, as ONNX Runtime's own quantization tool does.
nn.Module<Tensor, Tensor> Quantize(nn.Module<Tensor, Tensor> model, long[] shape, IBatchLoader calibration, string tensors)
{
    var plan = new ObserverQuantizer().Plan(new QuantizationRequest
    {
        Model = model, ExampleInputShape = shape, CalibrationData = calibration, Logger = logger,
        Settings = new Dictionary<string, string> { ["calibration_batches"] = "32", ["tensors"] = tensors },
    }) with { FoldBatchNorm = true };
    var session = new QuantizationSession(model, shape, logger);
    session.Apply(plan);
    session.Calibrate(calibration, plan.CalibrationBatches);
    model.eval();
    return model;
}

(double Fp32, double Fake, double OrtFloat, double OrtInt8, double MaxDiff) Accuracies(Prepared p, OnnxRuntimeModule floatOrt, OnnxRuntimeModule int8Ort, IBatchLoader test)
{
    long n = 0, fp32 = 0, fake = 0, ortFloat = 0, ortInt8 = 0;
    double maxDiff = 0;
    foreach (var batch in test.GetBatches(0))
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        long Correct(Tensor logits) => logits.argmax(1).eq(batch.Targets).sum().item<long>();
        var fakeLogits = p.Quantized.call(batch.Inputs);
        var int8Logits = int8Ort.call(batch.Inputs);
        fp32 += Correct(p.Float.call(batch.Inputs));
        fake += Correct(fakeLogits);
        ortFloat += Correct(floatOrt.call(batch.Inputs));
        ortInt8 += Correct(int8Logits);
        maxDiff = Math.Max(maxDiff, (int8Logits - fakeLogits).abs().max().item<float>());
        n += batch.Size;
    }
    return ((double)fp32 / n, (double)fake / n, (double)ortFloat / n, (double)ortInt8 / n, maxDiff);
}

// Median milliseconds per run of each file on one fixed input, timed on ONNX Runtime's own Run (the input OrtValue made
// once); the two alternate round by round so that drift of the machine hits both alike.
(double FloatMs, double Int8Ms) Latency(string floatPath, string int8Path, long[] shape)
{
    var values = new float[shape.Aggregate(1L, (a, b) => a * b)];
    var random = new Random(3);
    for (int i = 0; i < values.Length; i++) values[i] = (float)(random.NextDouble() * 2 - 1);
    using var input = OrtValue.CreateTensorValueFromMemory(values, shape);
    using var runOptions = new RunOptions();
    var sessions = new[] { floatPath, int8Path }.Select(path =>
    {
        using var options = OnnxRuntimeCheck.CreateSessionOptions(threads);
        return new InferenceSession(path, options);
    }).ToArray();
    try
    {
        void RunOnce(InferenceSession s) => s.Run(runOptions, [OnnxExporter.InputName], [input], [OnnxExporter.OutputName]).Dispose();
        foreach (var s in sessions) for (int i = 0; i < 3; i++) RunOnce(s); // warm-up: the first runs allocate
        var perRound = new List<double>[] { [], [] };
        for (int round = 0; round < rounds; round++)
            for (int k = 0; k < 2; k++)
            {
                var times = new List<double>();
                var cell = Stopwatch.StartNew();
                while (cell.Elapsed.TotalSeconds < secondsPerCell || times.Count < 3)
                {
                    var one = Stopwatch.StartNew();
                    RunOnce(sessions[k]);
                    times.Add(one.Elapsed.TotalMilliseconds);
                }
                perRound[k].Add(Median(times));
            }
        return (Median(perRound[0]), Median(perRound[1]));
    }
    finally
    {
        foreach (var s in sessions) s.Dispose();
    }
}

static double Median(List<double> values)
{
    var sorted = values.Order().ToList();
    return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
}

// Op types of the graph ONNX Runtime runs after its optimisations, by count (QLinearConv etc. show what was fused).
Dictionary<string, int> FusedOps(string path)
{
    var optimized = path + ".optimized.onnx";
    using (var options = OnnxRuntimeCheck.CreateSessionOptions(threads))
    {
        options.OptimizedModelFilePath = optimized;
        // ONNX Runtime warns that a serialised NCHWc graph is for this CPU only: known, and this file is only read here.
        options.LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR;
        using var session = new InferenceSession(path, options);
    }
    return Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(optimized)).Graph.Node.GroupBy(n => n.OpType)
        .OrderByDescending(g => g.Count()).ToDictionary(g => g.Key, g => g.Count());
}

internal sealed record Prepared(nn.Module<Tensor, Tensor> Float, nn.Module<Tensor, Tensor> Quantized, long[] Shape, IBatchLoader? Test);
