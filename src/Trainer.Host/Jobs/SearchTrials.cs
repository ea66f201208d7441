using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Trainer.Core.Search;
using Trainer.Core.Search.Trials;
using Trainer.Host.Options;

namespace Trainer.Host.Jobs;

/// <summary>
/// The trials of `trainer search`: each policy becomes a spec file in the search's trials folder (the run's configuration,
/// the search's fingerprint, the policy), run by the configured Search:Runner: in this process on the model already loaded,
/// on a pool of `trainer trial --worker` processes, or as Slurm job arrays of `trainer trial`. The scores are the same.
/// </summary>
public sealed class SearchTrials : IDisposable
{
    /// <summary>The configuration sections a trial needs to rebuild the model, task and held-out data.</summary>
    public static readonly IReadOnlyList<string> SpecSections = [TrainerOptions.Section, DataOptions.Section, TaskOptions.Section, ModelOptions.Section, SearchOptions.Section];

    private readonly IDisposable? owned;

    private SearchTrials(TrialPolicyScorer scorer, IDisposable? owned)
    {
        Scorer = scorer;
        this.owned = owned;
    }

    /// <summary>Scores policies as trials.</summary>
    public TrialPolicyScorer Scorer { get; }

    /// <summary>The trials of a search whose fingerprint is <paramref name="fingerprint"/>, with files in <paramref name="folder"/>;
    /// <paramref name="inProcess"/> is the search's own scorer (used by the in-process runner). NetAdapt's candidates name the
    /// base of <paramref name="bases"/> and run in process on <paramref name="finetuned"/>.</summary>
    public static SearchTrials Create(IConfiguration configuration, SearchOptions s, string fingerprint, string folder, IPolicyScorer inProcess, ILogger logger,
        AdoptedBaseFiles? bases = null, FinetunedTrialScorer? finetuned = null)
    {
        var template = TrialSpec.ForPolicy(fingerprint, SpecConfig(configuration), Directory.GetCurrentDirectory(), new Dictionary<string, int>(), s.RoundTo);
        var (runner, owned) = OutOfProcessRunner(s, folder, logger) ?? InProcess(template, inProcess, finetuned, s, logger);
        return new SearchTrials(new TrialPolicyScorer(runner, folder,
            policy => bases is null ? template with { Policy = policy } : bases.SpecOf(template, policy), logger), owned);
    }

    private static (ITrialRunner, IDisposable?) InProcess(TrialSpec template, IPolicyScorer inProcess, FinetunedTrialScorer? finetuned, SearchOptions s,
        ILogger logger)
    {
        var executor = new TrialExecutor(logger);
        executor.Adopt(template, inProcess, finetuned);
        return (new InProcessTrialRunner((files, attempt) => executor.Run(files, attempt), s.MaxAttempts), executor);
    }

    /// <summary>The runner Search:Runner configures when trials run outside this process (a local pool, Slurm job arrays) and
    /// what to dispose after (the pool's workers), or null for in-process.</summary>
    public static (ITrialRunner Runner, IDisposable? Owned)? OutOfProcessRunner(SearchOptions s, string folder, ILogger logger)
    {
        ITrialRunner runner;
        IDisposable? owned;
        if (s.Runner.Equals("local", StringComparison.OrdinalIgnoreCase))
        {
            var pool = new LocalPoolTrialRunner(WorkerCommand(), new LocalPoolOptions
            {
                Workers = s.Workers, ThreadsPerWorker = s.ThreadsPerWorker, MaxAttempts = s.MaxAttempts,
                ThreadVariables = ["OMP_NUM_THREADS", "MKL_NUM_THREADS", "Trainer__Threads"],
            }, logger);
            logger.LogInformation("Trials run on {Workers} local worker process(es) of {Threads} thread(s) each.", s.Workers, s.ThreadsPerWorker);
            (runner, owned) = (pool, pool);
        }
        else if (s.Runner.Equals("slurm", StringComparison.OrdinalIgnoreCase))
        {
            var options = s.Slurm.ToRunnerOptions(s.MaxAttempts, folder);
            runner = new SlurmTrialRunner(TrialProgram(), options, logger);
            owned = null;
            logger.LogInformation("Trials run as Slurm job arrays ({Cpus} CPU(s) each, batches in {Folder}).", options.CpusPerTask, options.SharedFolder);
        }
        else return null;
        return (runner, owned);
    }

    /// <summary>The configuration values of <see cref="SpecSections"/>, without those that say how or where to run rather than
    /// what to compute (threads, resume, the run's name and folders, the runner's settings): the same trial has the same spec
    /// whoever runs it, in whichever run.</summary>
    public static IReadOnlyDictionary<string, string> SpecConfig(IConfiguration configuration) => SpecConfig(configuration, SpecSections);

    /// <summary>The configuration values of <paramref name="sections"/> without those that say how or where to run.</summary>
    public static IReadOnlyDictionary<string, string> SpecConfig(IConfiguration configuration, IReadOnlyList<string> sections)
    {
        string[] excluded = ["Trainer:Threads", "Trainer:Resume", "Trainer:RunName", "Trainer:LogDir", "Trainer:CheckpointDir",
            .. SearchOptions.RunnerKeys.Select(k => $"{SearchOptions.Section}:{k}")];
        return sections.SelectMany(section => configuration.GetSection(section).AsEnumerable())
            .Where(kv => kv.Value is not null && !excluded.Any(key => kv.Key.Equals(key, StringComparison.OrdinalIgnoreCase) ||
                                                                     kv.Key.StartsWith(key + ":", StringComparison.OrdinalIgnoreCase)))
            .ToDictionary(kv => kv.Key, kv => kv.Value!, StringComparer.OrdinalIgnoreCase);
    }

    /// <summary>`trainer trial --worker` of this build: the apphost beside this assembly, else the dotnet host with its dll.</summary>
    public static TrialCommand WorkerCommand()
    {
        var apphost = Path.Combine(AppContext.BaseDirectory, OperatingSystem.IsWindows() ? "trainer.exe" : "trainer");
        return File.Exists(apphost)
            ? new TrialCommand(apphost, ["trial", "--worker"])
            : new TrialCommand("dotnet", [typeof(SearchTrials).Assembly.Location, "trial", "--worker"]);
    }

    /// <summary>`trainer trial` of this build, one spec per process (what each Slurm task runs; the trainer must be at
    /// the same path on the nodes).</summary>
    public static TrialCommand TrialProgram()
    {
        var worker = WorkerCommand();
        return worker with { Arguments = [.. worker.Arguments.Where(a => a != "--worker")] };
    }

    /// <summary>Ends the workers, or releases the in-process executor (a Slurm runner holds nothing to release).</summary>
    public void Dispose() => owned?.Dispose();
}
