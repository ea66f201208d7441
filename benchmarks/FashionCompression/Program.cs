using System.Diagnostics;
using System.Globalization;
using Benchmarks.FashionCompression;
using Microsoft.Extensions.Logging;
using Trainer.Abstractions.Compression;
using Trainer.Core.Checkpoints;
using Trainer.Core.Data;
using Trainer.Core.Models;
using TorchSharp;

// Trains (or loads) the Fashion CNN, prunes a copy to the FLOPs target with each method, and reports test accuracy
// before and after a short fine-tune. Usage: see BenchOptions.Usage.
BenchOptions options;
try { options = BenchOptions.Parse(args); }
catch (ArgumentException e) { Console.Error.WriteLine(e.Message); return 2; }

torch.set_num_threads(options.Threads);
using var loggers = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Information));
var logger = loggers.CreateLogger("FashionCompression");
using var data = FashionMnist.Load(options.DataDir, logger);
var session = new BenchSession(data, logger);

var reference = new FashionCnn();
if (options.Checkpoint is { } checkpoint)
{
    CheckpointFile.LoadWeights(checkpoint, reference);
    logger.LogInformation("Loaded {Checkpoint}", checkpoint);
}
else
{
    torch.manual_seed(BenchOptions.Seed);
    reference = new FashionCnn();
    session.Train(reference, options.Epochs, BenchOptions.LearningRate, options.CheckpointDir);
}

var unpruned = session.Measure(reference);
var rows = new List<MethodRow>();
foreach (var name in options.Methods)
{
    var method = MethodCatalog.Get(name);
    var model = new FashionCnn();
    model.load_state_dict(reference.state_dict());
    var editor = EditorFactory.Create(model, session.CalibrationData, logger);
    var clock = Stopwatch.StartNew();
    var result = method.Create().Compress(new CompressionRequest
    {
        Model = model,
        ExampleInputShape = [1, 1, 28, 28],
        TrainingData = session.CalibrationData,
        TargetFlopsRatio = options.TargetFlopsRatio,
        Settings = method.Settings,
        Editor = editor,
        EvaluateScore = session.TestAccuracy,
        Logger = logger,
    });
    var seconds = clock.Elapsed.TotalSeconds;
    foreach (var note in result.Layers) logger.LogInformation("{Method} {Layer}: {Note}", name, note.Layer, note.Note);
    var before = session.TestAccuracy(result.Model);
    session.Train(result.Model, options.FinetuneEpochs, options.FinetuneLr);
    var after = session.TestAccuracy(result.Model);
    var cost = editor.Cost;
    rows.Add(new MethodRow(name, cost.Macs, cost.Params, before, after, seconds));
}

Report.Print(options, unpruned, rows);
return 0;
