namespace Trainer.Core.Search.Trials;

/// <summary>
/// The line protocol between <see cref="LocalPoolTrialRunner"/> and a persistent worker process (<c>trainer trial --worker</c>):
/// the pool writes one request line per trial to the worker's standard input, <c>trial &lt;attempt&gt; &lt;spec&gt; &lt;result&gt;</c>
/// (tab-separated), and the worker answers one line when the trial has finished: <c>trial-done</c>, <c>trial-failed
/// &lt;message&gt;</c> (worth retrying) or <c>trial-invalid &lt;message&gt;</c> (the spec cannot run there; not retried). Answers
/// carry a prefix, so other output on the same stream (a native library's notes) is skipped, not misread.
/// </summary>
public static class TrialWorkerProtocol
{
    /// <summary>First field of a request.</summary>
    public const string Request = "trial";

    /// <summary>The trial finished and its result file is in place.</summary>
    public const string Done = "trial-done";

    /// <summary>The trial failed; another attempt may succeed.</summary>
    public const string Failed = "trial-failed";

    /// <summary>The spec cannot run in this worker (another model, a bad file); another attempt would fail the same way.</summary>
    public const string Invalid = "trial-invalid";

    /// <summary>The request line for <paramref name="trial"/>.</summary>
    /// <exception cref="ArgumentException">A path holds a tab or a line break.</exception>
    public static string RequestLine(TrialFiles trial, int attempt)
    {
        ArgumentNullException.ThrowIfNull(trial);
        foreach (var path in new[] { trial.SpecPath, trial.ResultPath })
            if (path.IndexOfAny(['\t', '\n', '\r']) >= 0)
                throw new ArgumentException($"the trial path '{path}' holds a tab or a line break, which the worker protocol cannot carry", nameof(trial));
        return $"{Request}\t{attempt}\t{trial.SpecPath}\t{trial.ResultPath}";
    }

    /// <summary>Serves requests from <paramref name="input"/> until it ends, answering each on <paramref name="answers"/>:
    /// <paramref name="run"/> runs one trial (files, attempt); an <see cref="InvalidTrialSpecException"/> is answered as
    /// invalid, any other exception as failed, and the worker goes on with the next request.</summary>
    /// <returns>How many requests were served.</returns>
    public static int Serve(TextReader input, TextWriter answers, Action<TrialFiles, int> run)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(answers);
        ArgumentNullException.ThrowIfNull(run);
        int served = 0;
        for (var line = input.ReadLine(); line is not null; line = input.ReadLine())
        {
            if (line.Length == 0) continue;
            var fields = line.Split('\t');
            string answer;
            if (fields.Length != 4 || fields[0] != Request || !int.TryParse(fields[1], out int attempt))
                answer = $"{Invalid}\tunreadable request '{OneLine(line)}'; expected 'trial<TAB>attempt<TAB>spec<TAB>result'";
            else
            {
                try
                {
                    run(new TrialFiles(fields[2], fields[3]), attempt);
                    answer = Done;
                }
                catch (InvalidTrialSpecException e)
                {
                    answer = $"{Invalid}\t{OneLine(e.Message)}";
                }
                catch (Exception e)
                {
                    answer = $"{Failed}\t{OneLine($"{e.GetType().Name}: {e.Message}")}";
                }
            }
            answers.WriteLine(answer);
            answers.Flush();
            served++;
        }
        return served;
    }

    internal static string OneLine(string text) => text.ReplaceLineEndings(" ").Replace('\t', ' ');
}
