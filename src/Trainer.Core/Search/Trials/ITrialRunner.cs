namespace Trainer.Core.Search.Trials;

/// <summary>One trial of a batch as files: its spec (JSON in, written before the batch runs) and the path its result
/// (JSON out) must appear at. Runners treat both as opaque files, so a batch can run in this process, in local worker
/// processes or on a cluster whose nodes see the same folder.</summary>
/// <param name="SpecPath">The trial's spec file.</param>
/// <param name="ResultPath">Where the trial writes its result (a temp file renamed into place, so a result that exists is whole).</param>
public sealed record TrialFiles(string SpecPath, string ResultPath);

/// <summary>How one trial of a batch ended.</summary>
/// <param name="Index">The trial's index in the batch.</param>
/// <param name="Succeeded">Whether its result file exists.</param>
/// <param name="Attempts">How many times it was started (more than 1 when a failed or lost attempt was retried).</param>
/// <param name="Error">What the last failed attempt reported (its exit code and the end of its error output), or null.</param>
public sealed record TrialOutcome(int Index, bool Succeeded, int Attempts, string? Error);

/// <summary>The command line that runs one trial: <see cref="Program"/> with <see cref="Arguments"/>, then the spec path,
/// then <c>--result</c> and the result path (what <c>trainer trial &lt;spec.json&gt; --result &lt;result.json&gt;</c> takes).</summary>
/// <param name="Program">The executable (e.g. the dotnet host or the trainer apphost).</param>
/// <param name="Arguments">Leading arguments (e.g. the trainer dll and the verb <c>trial</c>).</param>
public sealed record TrialCommand(string Program, IReadOnlyList<string> Arguments)
{
    /// <summary>The full argument list for <paramref name="trial"/>.</summary>
    public IReadOnlyList<string> ArgumentsFor(TrialFiles trial)
    {
        ArgumentNullException.ThrowIfNull(trial);
        return [.. Arguments, trial.SpecPath, "--result", trial.ResultPath];
    }
}

/// <summary>Runs batches of trials. A search writes a batch's spec files, hands them to a runner and reads the result
/// files back; which runner (in process, a local pool of worker processes, Slurm job arrays) is configuration, and the
/// results are the same whichever runs them.</summary>
public interface ITrialRunner
{
    /// <summary>Runs every trial of the batch and returns when each has its result file or has failed its last attempt.</summary>
    /// <returns>One outcome per trial, in the order of <paramref name="trials"/>.</returns>
    IReadOnlyList<TrialOutcome> Run(IReadOnlyList<TrialFiles> trials, CancellationToken cancellation = default);
}
