using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Trainer.Core.Analysis.Sensitivity;
using Trainer.Core.Models;
using Trainer.Core.Search.Trials;
using Trainer.Host.Options;
using TorchSharp;

namespace Trainer.Host.Jobs;

/// <summary>
/// Runs sensitivity-shard trial specs: loads the model and task from the spec's configuration as `trainer analyze` does,
/// checks the spec's fingerprint (model, weights hash, task, validation samples), runs the shard's sweeps with the baseline the
/// analysis measured (<see cref="TaskSensitivity.AnalyzeShard"/>) and writes the metrics as the trial's result. The loaded
/// model is kept for the next shard of the same configuration.
/// </summary>
public sealed class SensitivityTrialExecutor(ILogger logger, int threads = 0) : IDisposable
{
    private (string Key, string Fingerprint, LoadedModel Model, Core.Tasks.TrainingTask Task, IHost Host)? loaded;

    /// <summary>What a shard's metrics depend on besides the shard: the model, its weights, the task and the validation samples.</summary>
    public static string Fingerprint(LoadedModel model, string task, int validationSamples) => string.Create(CultureInfo.InvariantCulture,
        $"{model.Name} weights {SearchFingerprint.WeightsHash(model)}; task {task}; sensitivity on {validationSamples} validation samples");

    /// <summary>Runs the shard of <paramref name="spec"/> (read from <paramref name="files"/>) and writes its result.</summary>
    /// <exception cref="InvalidTrialSpecException">The configuration does not load here, the fingerprint differs (a spec of
    /// another model) or the shard names a layer the model lacks.</exception>
    public TrialResult Run(TrialSpec spec, TrialFiles files, int attempt)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(files);
        var shard = spec.Shard ?? throw new InvalidTrialSpecException($"The trial spec '{files.SpecPath}' is not a sensitivity shard.");
        var (_, fingerprint, model, task, _) = StateFor(spec, files.SpecPath);
        if (fingerprint != spec.Fingerprint)
            throw new InvalidTrialSpecException($"The trial spec '{files.SpecPath}' is of another model or analysis: " +
                                                $"{SearchFingerprint.Difference(spec.Fingerprint, fingerprint)}. Write the spec again for this model.");
        var watch = Stopwatch.StartNew();
        IReadOnlyList<SensitivityPoint> points;
        using (torch.NewDisposeScope())
        {
            try
            {
                points = TaskSensitivity.AnalyzeShard(task, model.Network, shard, logger);
            }
            catch (ArgumentException e)
            {
                throw new InvalidTrialSpecException($"The trial spec '{files.SpecPath}' does not fit the model its configuration loads: {e.Message}");
            }
        }
        var result = TrialResult.OfShard(spec, points, watch.Elapsed.TotalSeconds, attempt);
        result.Save(files.ResultPath);
        return result;
    }

    private (string, string, LoadedModel, Core.Tasks.TrainingTask, IHost) StateFor(TrialSpec spec, string path)
    {
        var key = spec.LoadKey();
        if (loaded is { } state && state.Key == key) return state;
        Dispose();
        loaded = TrialHost.Open(spec, path, threads, (host, _, task) =>
        {
            var model = ModelLoader.Load(host.Services.GetRequiredService<IOptions<ModelOptions>>().Value, logger, () => task);
            ModelLoader.CheckTakes(model, task);
            model.Network.eval();
            var fingerprint = Fingerprint(model, task.Name, spec.Shard!.ValidationSamples);
            logger.LogInformation("Trial worker loaded '{Model}' for {Fingerprint}.", model.Name, fingerprint);
            return (key, fingerprint, model, task, host);
        });
        return loaded.Value;
    }

    /// <summary>Releases the loaded model and task.</summary>
    public void Dispose()
    {
        if (loaded is not { } state) return;
        state.Model.Network.Dispose();
        state.Host.Dispose();
        loaded = null;
    }
}
