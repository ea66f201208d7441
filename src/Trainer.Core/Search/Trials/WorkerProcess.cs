using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Trainer.Core.Search.Trials;

/// <summary>One persistent worker process of a <see cref="LocalPoolTrialRunner"/>: requests go to its standard input, answers
/// come from its standard output (lines of <see cref="TrialWorkerProtocol"/>), and the last lines of its other output are kept
/// to explain a crash.</summary>
internal sealed class WorkerProcess : IDisposable
{
    private const int TailLines = 20;
    private readonly Process process;
    private readonly Queue<string> tail = new();
    private readonly ILogger logger;
    private readonly string name;

    private WorkerProcess(Process process, ILogger logger, string name)
    {
        this.process = process;
        this.logger = logger;
        this.name = name;
    }

    /// <summary>Starts <paramref name="command"/> (the whole worker command line) with <paramref name="environment"/> added.</summary>
    public static WorkerProcess Start(TrialCommand command, IReadOnlyDictionary<string, string> environment, string? workingDirectory,
        ILogger logger, string name)
    {
        var start = new ProcessStartInfo(command.Program)
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Directory.GetCurrentDirectory(),
        };
        foreach (var argument in command.Arguments) start.ArgumentList.Add(argument);
        foreach (var (key, value) in environment) start.Environment[key] = value;
        var process = Process.Start(start) ?? throw new InvalidOperationException($"the worker '{command.Program}' did not start");
        var worker = new WorkerProcess(process, logger, $"{name} (pid {process.Id})");
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) worker.Note(e.Data); };
        process.BeginErrorReadLine();
        logger.LogDebug("Started trial worker {Worker}: {Program} {Arguments}", worker.name, command.Program, string.Join(' ', command.Arguments));
        return worker;
    }

    /// <summary>Sends one request and waits for its answer: (kind, message), or null when the worker ended before answering.</summary>
    public (string Kind, string Message)? Ask(string request)
    {
        try
        {
            process.StandardInput.WriteLine(request);
            process.StandardInput.Flush();
        }
        catch (IOException)
        {
            return null;   // the worker is gone: a broken pipe
        }
        for (var line = process.StandardOutput.ReadLine(); line is not null; line = process.StandardOutput.ReadLine())
        {
            var tab = line.IndexOf('\t');
            var kind = tab < 0 ? line : line[..tab];
            if (kind is TrialWorkerProtocol.Done or TrialWorkerProtocol.Failed or TrialWorkerProtocol.Invalid)
                return (kind, tab < 0 ? "" : line[(tab + 1)..]);
            Note(line);
        }
        return null;
    }

    /// <summary>Why the worker ended: its exit code and the end of its output.</summary>
    public string Obituary()
    {
        if (!process.WaitForExit(5000)) Kill();
        process.WaitForExit();
        lock (tail)
        {
            var output = tail.Count == 0 ? "no output" : "last output: " + string.Join(" | ", tail);
            return $"the worker {name} ended with exit code {process.ExitCode} ({output})";
        }
    }

    /// <summary>Ends the worker: closes its input (a worker ends at the end of its requests), then kills it if it lingers.</summary>
    public void Dispose()
    {
        try
        {
            if (!process.HasExited)
            {
                process.StandardInput.Close();
                if (!process.WaitForExit(10_000)) Kill();
            }
            process.WaitForExit();
        }
        catch (Exception e) when (e is IOException or InvalidOperationException)
        {
            // Already gone.
        }
        process.Dispose();
    }

    /// <summary>Kills the worker and its children (cancellation, a worker that does not end).</summary>
    public void Kill()
    {
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
    }

    private void Note(string line)
    {
        logger.LogDebug("{Worker}: {Line}", name, line);
        lock (tail)
        {
            tail.Enqueue(line.Length > 300 ? line[..300] + "…" : line);
            while (tail.Count > TailLines) tail.Dequeue();
        }
    }
}
