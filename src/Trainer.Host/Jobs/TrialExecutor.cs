using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Trainer.Core.Search;
using Trainer.Core.Search.Trials;
using Trainer.Host.Options;
using TorchSharp;

namespace Trainer.Host.Jobs;

/// <summary>
/// Runs trial specs (<see cref="TrialSpec"/>): rebuilds the model, task and held-out data from the spec's configuration,
/// checks that what it loaded has the spec's fingerprint, scores the spec's policy as `trainer search` does
/// (Search:Pruner: <see cref="TaskPolicyScorer"/> or <see cref="CompressorPolicyScorer"/>; a NetAdapt candidate, which names its base, with <see cref="FinetunedTrialScorer"/>) and
/// writes the result file; a sensitivity shard goes to <see cref="SensitivityTrialExecutor"/>. What it loaded is kept for
/// the next spec of the same configuration, so a persistent worker loads a
/// model once, not per trial.
/// </summary>
public sealed class TrialExecutor(ILogger logger, int threads = 0) : IDisposable
{
    private Loaded? loaded;
    private SensitivityTrialExecutor? sensitivity;

    /// <summary>Takes <paramref name="scorer"/> and <paramref name="finetuned"/> (a search's own, of the model already loaded in
    /// this process) for the specs made from <paramref name="template"/>, instead of loading the model again.</summary>
    public void Adopt(TrialSpec template, IPolicyScorer scorer, FinetunedTrialScorer? finetuned = null)
    {
        loaded?.Dispose();
        loaded = new Loaded(template.LoadKey(), template.Fingerprint, scorer, finetuned, null);
    }

    /// <summary>Runs the trial of <paramref name="files"/>; the result is written (through a temp file) only when it succeeds.</summary>
    /// <exception cref="InvalidTrialSpecException">The spec cannot be read, its configuration does not load here, its fingerprint
    /// differs from what its configuration loads (a spec of another model) or its policy names a group the model lacks.</exception>
    public TrialResult Run(TrialFiles files, int attempt)
    {
        ArgumentNullException.ThrowIfNull(files);
        var spec = TrialSpec.Load(files.SpecPath);
        if (spec.Kind == TrialSpec.SensitivityShardKind) return (sensitivity ??= new SensitivityTrialExecutor(logger, threads)).Run(spec, files, attempt);
        var state = StateFor(spec, files.SpecPath);
        if (state.Fingerprint != spec.Fingerprint)
            throw new InvalidTrialSpecException($"The trial spec '{files.SpecPath}' is of another model or search: " +
                                                $"{SearchFingerprint.Difference(spec.Fingerprint, state.Fingerprint)}. Write the spec again " +
                                                "(run the search again) for this model, or restore the weights the spec was made for.");
        var watch = Stopwatch.StartNew();
        PolicyScore score;
        using (torch.NewDisposeScope())
        {
            try
            {
                score = spec.Base is null ? state.Scorer.Score(spec.Policy)
                    : (state.Finetuned ?? throw new InvalidTrialSpecException($"The trial spec '{files.SpecPath}' names a base to finetune candidates " +
                                                                            "from, which this search's trials do not do.")).Score(spec, files.SpecPath);
            }
            catch (ArgumentException e) when (e.ParamName == "keptChannels")
            {
                throw new InvalidTrialSpecException($"The trial spec '{files.SpecPath}' does not fit the model its configuration loads: " +
                                                    $"{e.Message.Replace(" (Parameter 'keptChannels')", "")}.");
            }
        }
        var result = TrialResult.Of(spec, score, watch.Elapsed.TotalSeconds, attempt);
        result.Save(files.ResultPath);
        return result;
    }

    private Loaded StateFor(TrialSpec spec, string path)
    {
        var key = spec.LoadKey();
        if (loaded?.Key == key) return loaded;
        loaded?.Dispose();
        loaded = null;
        loaded = Load(spec, key, path);
        return loaded;
    }

    private Loaded Load(TrialSpec spec, string key, string path) => TrialHost.Open(spec, path, threads, (host, t, task) =>
    {
        var s = host.Services.GetRequiredService<IOptions<SearchOptions>>().Value;
        torch.manual_seed(s.Seed);
        var model = ModelLoader.LoadTrained(host.Services.GetRequiredService<IOptions<ModelOptions>>().Value, logger, "trial", task);
        model.Network.eval();
        var loader = task.CalibrationLoader(s.HeldOutSamples, t.EvalBatchSize, s.Seed + 1);
        var recalibration = AutoPruneSearches.Recalibration(task, s, t);
        var (scorer, pruneSamples) = AutoPruneSearches.PolicyScorer(task, model, loader, s, t, spec.RoundTo, recalibration,
            host.Services.GetRequiredService<Plugins.PluginLoader>());
        var finetuned = AutoPruneSearches.TrialCandidates(task, model, loader);
        var fingerprint = SearchFingerprint.Of(model, task.Name, s) + AutoPruneSearches.FingerprintSuffix(s, t);
        logger.LogInformation("Trial worker loaded '{Model}' for {Fingerprint}.", model.Name, fingerprint);
        return new Loaded(key, fingerprint, scorer, finetuned, () =>
        {
            finetuned.Dispose();
            (loader as IDisposable)?.Dispose();
            (recalibration?.Loader as IDisposable)?.Dispose();
            pruneSamples?.Dispose();
            model.Network.Dispose();
            host.Dispose();
        });
    });

    /// <summary>Releases the loaded model, task and data.</summary>
    public void Dispose()
    {
        loaded?.Dispose();
        loaded = null;
        sensitivity?.Dispose();
        sensitivity = null;
    }

    private sealed class Loaded(string key, string fingerprint, IPolicyScorer scorer, FinetunedTrialScorer? finetuned, Action? release) : IDisposable
    {
        public string Key => key;
        public string Fingerprint => fingerprint;
        public IPolicyScorer Scorer => scorer;
        public FinetunedTrialScorer? Finetuned => finetuned;
        public void Dispose() => release?.Invoke();
    }
}
