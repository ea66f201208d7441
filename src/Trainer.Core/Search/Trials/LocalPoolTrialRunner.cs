using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Trainer.Core.Search.Trials;

/// <summary>Settings of <see cref="LocalPoolTrialRunner"/>.</summary>
public sealed record LocalPoolOptions
{
    /// <summary>Worker processes running trials at the same time.</summary>
    public int Workers { get; init; } = 2;

    /// <summary>Threads each worker computes with: the value of every <see cref="ThreadVariables"/> in its environment.</summary>
    public int ThreadsPerWorker { get; init; } = 1;

    /// <summary>Attempts per trial: a trial whose worker crashed or failed is tried again (in a fresh worker after a crash) up to this many times.</summary>
    public int MaxAttempts { get; init; } = 3;

    /// <summary>Environment variables set to <see cref="ThreadsPerWorker"/> (OpenMP's and MKL's by default; add the
    /// worker program's own thread setting, e.g. Trainer__Threads).</summary>
    public IReadOnlyList<string> ThreadVariables { get; init; } = ["OMP_NUM_THREADS", "MKL_NUM_THREADS"];

    /// <summary>More environment variables for the workers.</summary>
    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();

    /// <summary>The workers' working folder; this process's when null.</summary>
    public string? WorkingDirectory { get; init; }

    /// <summary>Throws one clear exception for the first bad value.</summary>
    public void Validate()
    {
        if (Workers < 1) throw new ArgumentOutOfRangeException(nameof(Workers), Workers, "at least one worker");
        if (ThreadsPerWorker < 1) throw new ArgumentOutOfRangeException(nameof(ThreadsPerWorker), ThreadsPerWorker, "at least one thread per worker");
        if (MaxAttempts < 1) throw new ArgumentOutOfRangeException(nameof(MaxAttempts), MaxAttempts, "at least one attempt per trial");
    }
}

/// <summary>
/// Runs batches of trials on a pool of persistent local worker processes (<c>trainer trial --worker</c>, speaking
/// <see cref="TrialWorkerProtocol"/>), each with its own thread budget. Workers live from their first trial until the runner is
/// disposed, so a worker that caches its model pays process start and model loading once, not per trial. A worker that
/// crashes is replaced and its trial tried again up to <see cref="LocalPoolOptions.MaxAttempts"/> times; a trial that still
/// fails is reported by index in its <see cref="TrialOutcome"/>. Results land in the files the specs name, so which worker
/// ran which trial does not change them.
/// </summary>
public sealed class LocalPoolTrialRunner : ITrialRunner, IDisposable
{
    private readonly TrialCommand worker;
    private readonly LocalPoolOptions options;
    private readonly ILogger logger;
    private readonly WorkerProcess?[] slots;
    private readonly Dictionary<string, string> environment;
    private int restarts;
    private bool disposed;

    /// <summary>A pool whose workers run <paramref name="worker"/> (the whole command line of one persistent worker).</summary>
    public LocalPoolTrialRunner(TrialCommand worker, LocalPoolOptions? options = null, ILogger? logger = null)
    {
        this.worker = worker ?? throw new ArgumentNullException(nameof(worker));
        this.options = options ?? new LocalPoolOptions();
        this.options.Validate();
        this.logger = logger ?? NullLogger.Instance;
        slots = new WorkerProcess?[this.options.Workers];
        environment = new Dictionary<string, string>(this.options.Environment);
        foreach (var name in this.options.ThreadVariables) environment[name] = this.options.ThreadsPerWorker.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>The pool's settings.</summary>
    public LocalPoolOptions Options => options;

    /// <summary>Workers started to replace one that ended during a trial.</summary>
    public int Restarts => Volatile.Read(ref restarts);

    /// <inheritdoc />
    public IReadOnlyList<TrialOutcome> Run(IReadOnlyList<TrialFiles> trials, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(trials);
        ObjectDisposedException.ThrowIf(disposed, this);
        var outcomes = new TrialOutcome[trials.Count];
        int next = 0;
        Exception? fault = null;
        using var cancel = cancellation.Register(KillAll);
        var threads = Enumerable.Range(0, Math.Min(slots.Length, trials.Count)).Select(slot => new Thread(() =>
        {
            try
            {
                for (int i = Interlocked.Increment(ref next) - 1; i < trials.Count && !cancellation.IsCancellationRequested;
                     i = Interlocked.Increment(ref next) - 1)
                    outcomes[i] = RunTrial(slot, i, trials[i], cancellation);
            }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref fault, e, null);
                KillAll();
            }
        }) { IsBackground = true, Name = $"trial-slot-{slot}" }).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        cancellation.ThrowIfCancellationRequested();
        if (fault is not null) throw new InvalidOperationException($"The local trial pool failed: {fault.Message}", fault);
        return outcomes;
    }

    private TrialOutcome RunTrial(int slot, int index, TrialFiles trial, CancellationToken cancellation)
    {
        string? error = null;
        for (int attempt = 1; attempt <= options.MaxAttempts; attempt++)
        {
            cancellation.ThrowIfCancellationRequested();
            var process = slots[slot] ??= WorkerProcess.Start(worker, environment, options.WorkingDirectory, logger, $"trial worker {slot}");
            var answer = process.Ask(TrialWorkerProtocol.RequestLine(trial, attempt));
            if (answer is null)
            {
                cancellation.ThrowIfCancellationRequested();
                error = process.Obituary();
                process.Dispose();
                slots[slot] = null;
                Interlocked.Increment(ref restarts);
                logger.LogWarning("Trial {Index} (attempt {Attempt} of {Max}) lost: {Error}", index, attempt, options.MaxAttempts, error);
                continue;
            }
            var (kind, message) = answer.Value;
            if (kind == TrialWorkerProtocol.Done)
            {
                if (File.Exists(trial.ResultPath)) return new TrialOutcome(index, true, attempt, null);
                error = $"the worker reported the trial done but wrote no result file '{trial.ResultPath}'";
            }
            else error = message;
            if (kind == TrialWorkerProtocol.Invalid) return new TrialOutcome(index, false, attempt, error);
            logger.LogWarning("Trial {Index} (attempt {Attempt} of {Max}) failed: {Error}", index, attempt, options.MaxAttempts, error);
        }
        return new TrialOutcome(index, false, options.MaxAttempts, error);
    }

    private void KillAll()
    {
        foreach (var process in slots) process?.Kill();
    }

    /// <summary>Ends the workers (their input is closed; one that does not end is killed).</summary>
    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        for (int i = 0; i < slots.Length; i++)
        {
            slots[i]?.Dispose();
            slots[i] = null;
        }
    }
}
