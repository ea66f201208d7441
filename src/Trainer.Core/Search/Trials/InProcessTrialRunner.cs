namespace Trainer.Core.Search.Trials;

/// <summary>Runs each trial of a batch in this process, one after another, by calling a delegate with its files and attempt
/// number; a trial whose delegate throws (other than <see cref="InvalidTrialSpecException"/>) or writes no result is tried
/// again up to <see cref="MaxAttempts"/> times.</summary>
public sealed class InProcessTrialRunner : ITrialRunner
{
    private readonly Action<TrialFiles, int> run;

    /// <summary>A runner that calls <paramref name="run"/> (trial files, attempt from 1) per trial.</summary>
    /// <param name="run">Reads the spec and writes the result file.</param>
    /// <param name="maxAttempts">Attempts per trial, at least 1.</param>
    public InProcessTrialRunner(Action<TrialFiles, int> run, int maxAttempts = 1)
    {
        this.run = run ?? throw new ArgumentNullException(nameof(run));
        ArgumentOutOfRangeException.ThrowIfLessThan(maxAttempts, 1);
        MaxAttempts = maxAttempts;
    }

    /// <summary>Attempts per trial.</summary>
    public int MaxAttempts { get; }

    /// <inheritdoc />
    public IReadOnlyList<TrialOutcome> Run(IReadOnlyList<TrialFiles> trials, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(trials);
        var outcomes = new List<TrialOutcome>(trials.Count);
        for (int i = 0; i < trials.Count; i++)
        {
            string? error = null;
            int attempt = 0;
            bool done = false;
            while (!done && attempt < MaxAttempts)
            {
                cancellation.ThrowIfCancellationRequested();
                attempt++;
                try
                {
                    run(trials[i], attempt);
                    done = File.Exists(trials[i].ResultPath);
                    if (!done) error = $"the trial wrote no result file '{trials[i].ResultPath}'";
                }
                catch (InvalidTrialSpecException e)
                {
                    error = e.Message;
                    break;
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    error = $"{e.GetType().Name}: {e.Message}";
                }
            }
            outcomes.Add(new TrialOutcome(i, done, attempt, done ? null : error));
        }
        return outcomes;
    }
}
