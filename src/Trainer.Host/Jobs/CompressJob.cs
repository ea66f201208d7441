using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Trainer.Abstractions.Compression;
using Trainer.Core.Compression;
using Trainer.Host.Options;
using Trainer.Host.Plugins;
using TorchSharp;

namespace Trainer.Host.Jobs;

/// <summary>
/// `trainer compress`: maps the configuration onto Core's <see cref="CompressionSession"/> (the compressor a plugin gives,
/// the task, the Trainer section's recipe for finetuning) and prints its report. Each finished iteration is saved as a
/// manifest plus weights, so a crashed run resumes at the last finished iteration and the result reloads anywhere.
/// </summary>
public sealed class CompressJob(
    IOptions<TrainerOptions> trainerOptions, IOptions<DataOptions> dataOptions, IOptions<ModelOptions> modelOptions,
    IOptions<CompressionOptions> compressionOptions, PluginLoader plugins, Tasks.TaskProvider tasks, TrainerFactory trainers,
    ILoggerFactory loggers)
{
    /// <summary>File name of the manifest in the stage's checkpoint folder.</summary>
    public const string ManifestFileName = CompressionSession.ManifestFileName;

    private readonly ILogger _logger = loggers.CreateLogger("Trainer.Compress");

    /// <summary>Runs the stage. <paramref name="folders"/> and <paramref name="checkpoint"/> come from a pipeline's training
    /// stage; alone, the run's folders come from the Trainer section and the model from the Model section.</summary>
    public CompressionManifest Run(RunFolders? folders = null, string? checkpoint = null)
    {
        var o = compressionOptions.Value;
        var t = trainerOptions.Value;
        var compressor = FindCompressor(o);
        var stage = (folders ?? RunFolders.Resolve(t, stage: "compress")).Stage("compress");
        var manifestPath = Path.Combine(stage.CheckpointDir, ManifestFileName);
        var resuming = Core.IO.FileBytes.Exists(manifestPath, "Compression manifest", message => new InvalidDataException(message));
        if (resuming && !t.Resume)
            throw new JobException($"The run '{stage.RunName}' already has compression results in '{manifestPath}'. " +
                                   "Pass --resume to continue it, or choose another --Trainer:RunName.");
        if (t.Threads > 0) torch.set_num_threads(t.Threads);

        var task = tasks.Task;
        var original = ModelLoader.LoadTrained(modelOptions.Value, _logger, "compress", task, checkpoint);
        var session = new CompressionSession(task, compressor, o.ToSession(), trainers.Recipe, loggers);
        CompressionOutcome outcome;
        try
        {
            outcome = session.Run(original, new CompressionRun(stage.CheckpointDir, stage.LogDir, t.Resume, t.BatchSize, t.EvalBatchSize, t.Seed,
                dataOptions.Value.SubsetRatio));
        }
        catch (CompressionSettingsException e)
        {
            throw JobException.From(e, string.Join(", ", e.Keys.Split(", ").Select(k => "Compression:" + k)));
        }
        outcome.Model.Dispose();
        CompressionReport.Write(stage, outcome.Manifest, manifestPath, outcome.StopReason, _logger);
        return outcome.Manifest;
    }

    private ICompressor FindCompressor(CompressionOptions o)
    {
        if (o.Compressor.Length == 0)
            throw new JobException("Compression:Compressor is empty; name the compressor to run" + Available());
        try
        {
            return plugins.GetCompressor(o.Compressor);
        }
        catch (KeyNotFoundException)
        {
            throw new JobException($"Compression:Compressor = '{o.Compressor}' is not a loaded compressor" + Available() +
                                   " Add the plugin that provides it to Compression:Plugins.");
        }

        string Available() => plugins.Compressors.Count == 0
            ? " (no plugin is loaded: list one in Compression:Plugins, e.g. ChannelPruning)."
            : $"; loaded: {string.Join(", ", plugins.Compressors.Select(c => c.Name))}.";
    }
}
