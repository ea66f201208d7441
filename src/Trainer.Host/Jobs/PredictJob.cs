using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Spectre.Console;
using Trainer.Core.Export.Onnx;
using Trainer.Core.Tasks;
using Trainer.Host.Options;

namespace Trainer.Host.Jobs;

/// <summary>What `trainer predict` measured.</summary>
/// <param name="OnnxPath">The ONNX file run.</param>
/// <param name="Samples">Validation samples scored (0 with Predict:Images).</param>
/// <param name="Score">The task's score from ONNX Runtime's outputs (NaN with Predict:Images).</param>
/// <param name="Batch1Ms">Median ms of one batch-1 forward pass.</param>
/// <param name="BatchN">The batch size N.</param>
/// <param name="BatchNMs">Median ms of one batch-N forward pass.</param>
/// <param name="Predictions">Each image's top class with Predict:Images, else empty.</param>
public sealed record PredictSummary(string OnnxPath, long Samples, double Score, double Batch1Ms, int BatchN, double BatchNMs,
    IReadOnlyList<ImagePrediction> Predictions);

/// <summary>
/// `trainer predict`: runs an exported ONNX model in ONNX Runtime (Predict:Threads threads, spinning off) on the task's
/// validation data and reports the task's score from its outputs, or classifies a folder of images (Predict:Images) for an
/// image task; then times batch 1 and batch N (medians). Writes summary.json. The work is Core's
/// (<see cref="OnnxRuntimeSession"/>, <see cref="OnnxRuntimeModule"/>, <see cref="OnnxRuntimeLatency"/>,
/// <see cref="OnnxImagePredictor"/>); a missing file, a file ONNX Runtime refuses and an input shape other than the task's are
/// each one <see cref="JobException"/>.
/// </summary>
public sealed class PredictJob(IOptions<PredictOptions> predictOptions, IOptions<TrainerOptions> trainerOptions, Tasks.TaskProvider tasks,
    ILoggerFactory loggers)
{
    private readonly ILogger _logger = loggers.CreateLogger("Trainer.Predict");

    /// <summary>Runs the prediction.</summary>
    public PredictSummary Run()
    {
        var p = predictOptions.Value;
        var (onnxPath, folders) = Resolve(p, trainerOptions.Value);
        var task = tasks.Task;
        if (p.Images.Length > 0 && task is not ImageClassificationTask)
            throw new JobException($"Predict:Images classifies image files, but the task '{task.Name}' is not an image task (cifar10-binary, " +
                                   "image-folder); unset Predict:Images to score its validation data.");
        using var ort = Open(onnxPath, p.Threads);
        var example = task.ExampleInputShape;
        if (!ort.Accepts(example))
            throw new JobException($"'{ort.Path}' takes an input of shape [{Dims(ort.InputDimensions)}], but the task '{task.Name}' gives " +
                                   $"[{string.Join(",", example)}]: run a model exported for this task, or configure the task it was trained on.");
        PredictSummary summary;
        try
        {
            var (samples, score, predictions) = p.Images.Length > 0
                ? (0L, double.NaN, Classify(ort, (ImageClassificationTask)task, p))
                : Score(ort, task, p);
            var batch1 = OnnxRuntimeLatency.Measure(ort, [1, .. example.Skip(1)], rounds: p.LatencyRounds);
            var batchN = OnnxRuntimeLatency.Measure(ort, [p.BatchSize, .. example.Skip(1)], rounds: p.LatencyRounds, callsPerRound: 1);
            summary = new PredictSummary(ort.Path, samples, score, batch1.OnnxRuntimeMs, p.BatchSize, batchN.OnnxRuntimeMs, predictions);
        }
        catch (OnnxRuntimeSessionException e)
        {
            throw new JobException(e.Message);
        }
        Report(folders, task, summary, p.Threads);
        return summary;
    }

    private static OnnxRuntimeSession Open(string path, int threads)
    {
        try
        {
            return OnnxRuntimeSession.Open(path, threads);
        }
        catch (FileNotFoundException e)
        {
            throw new JobException($"{e.Message} Set Predict:Onnx to a file of `trainer export --Export:Format=onnx`.");
        }
        catch (OnnxRuntimeSessionException e)
        {
            throw new JobException(e.Message);
        }
    }

    /// <summary>Predict:Onnx, or the named (else the newest) run's export; and where the report goes.</summary>
    private static (string Onnx, RunFolders Folders) Resolve(PredictOptions p, TrainerOptions t)
    {
        string RunExport(string run) => Path.Combine(t.CheckpointDir, run, "export", ExportJob.OnnxFileName);
        if (p.Onnx.Length > 0)
        {
            var name = t.RunName.Length > 0 ? t.RunName : "predict-" + DateTime.Now.ToString("yyyyMMdd-HHmmss");
            return (p.Onnx, new RunFolders(name, Path.Combine(t.LogDir, name), Path.Combine(t.CheckpointDir, name)).Stage("predict"));
        }
        var run = t.RunName;
        if (run.Length > 0 && !File.Exists(RunExport(run)))
            throw new JobException($"The run '{run}' has no ONNX export at '{RunExport(run)}': export it first (trainer export with " +
                                   "Export:Format=onnx, or trainer run, whose default job ends with it), or set Predict:Onnx to a .onnx file.");
        if (run.Length == 0)
            run = Directory.Exists(t.CheckpointDir)
                ? new DirectoryInfo(t.CheckpointDir).EnumerateDirectories().Where(d => File.Exists(RunExport(d.Name)))
                    .OrderByDescending(d => File.GetLastWriteTimeUtc(RunExport(d.Name))).Select(d => d.Name).FirstOrDefault() ?? ""
                : "";
        if (run.Length == 0)
            throw new JobException($"trainer predict found no exported ONNX model under '{t.CheckpointDir}' (Trainer:CheckpointDir): set " +
                                   "Predict:Onnx to a .onnx file, or export one first (trainer run with Export:Format=onnx).");
        return (RunExport(run), new RunFolders(run, Path.Combine(t.LogDir, run), Path.Combine(t.CheckpointDir, run)).Stage("predict"));
    }

    private (long Samples, double Score, IReadOnlyList<ImagePrediction> Predictions) Score(OnnxRuntimeSession ort, TrainingTask task, PredictOptions p)
    {
        var loader = p.Samples > 0 ? task.ScoreLoader(p.Samples, p.BatchSize) : task.ValidationLoader(p.BatchSize);
        using var module = new OnnxRuntimeModule(ort);
        var score = task.ScoreOf(module, loader);
        _logger.LogInformation("ONNX Runtime on {Samples} validation samples of '{Task}': {Score}.", module.Samples, task.Name, task.Score.Format(score));
        return (module.Samples, score, []);
    }

    private static IReadOnlyList<ImagePrediction> Classify(OnnxRuntimeSession ort, ImageClassificationTask task, PredictOptions p)
    {
        try
        {
            return OnnxImagePredictor.Predict(ort, task, OnnxImagePredictor.Files(p.Images), p.BatchSize);
        }
        catch (Exception e) when (e is DirectoryNotFoundException or InvalidDataException)
        {
            throw new JobException($"Predict:Images: {e.Message}");
        }
    }

    private void Report(RunFolders folders, TrainingTask task, PredictSummary s, int threads)
    {
        if (s.Predictions.Count > 0)
        {
            var images = new Table().Title($"Top class per image ({s.Predictions.Count})").AddColumn("image").AddColumn("class")
                .AddColumn(new TableColumn("probability").RightAligned());
            foreach (var prediction in s.Predictions)
                images.AddRow(Markup.Escape(prediction.File), Markup.Escape(prediction.ClassName), $"{prediction.Probability:0.0000}");
            AnsiConsole.Write(images);
        }
        var table = new Table().Title($"ONNX Runtime: {Markup.Escape(Path.GetFileName(s.OnnxPath))} on '{Markup.Escape(task.Name)}'")
            .AddColumn("").AddColumn(new TableColumn("value").RightAligned());
        table.AddRow("model", Markup.Escape(s.OnnxPath));
        if (s.Predictions.Count == 0)
            table.AddRow($"{Markup.Escape(task.Score.Name)} ({s.Samples} validation samples)", $"{s.Score:0.0000}");
        table.AddRow("batch-1 latency (median)", $"{s.Batch1Ms:0.000} ms");
        table.AddRow($"batch-{s.BatchN} latency (median)", $"{s.BatchNMs:0.000} ms ({s.BatchNMs / s.BatchN:0.000} ms per sample)");
        table.AddRow("threads (spinning off)", threads.ToString());
        AnsiConsole.Write(table);
        Directory.CreateDirectory(folders.LogDir);
        var json = Path.Combine(folders.LogDir, "summary.json");
        Trainer.Core.IO.AtomicFile.WriteAllText(json, JsonSerializer.Serialize(new
        {
            run = folders.RunName,
            onnx = s.OnnxPath,
            task = task.Name,
            score_name = task.Score.Name,
            score = s.Predictions.Count == 0 ? s.Score : (double?)null,
            samples = s.Samples,
            threads,
            latency_ms_batch_1 = s.Batch1Ms,
            batch_n = s.BatchN,
            latency_ms_batch_n = s.BatchNMs,
            predictions = s.Predictions.Select(x => new { file = x.File, class_index = x.ClassIndex, class_name = x.ClassName, probability = x.Probability }),
        }, new JsonSerializerOptions { WriteIndented = true }));
        _logger.LogInformation("Predict report: '{Json}'.", json);
    }

    private static string Dims(long[] dims) => string.Join(",", dims.Select(d => d < 0 ? "batch" : d.ToString()));
}
