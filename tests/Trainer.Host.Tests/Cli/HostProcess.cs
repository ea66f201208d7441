using System.Diagnostics;

namespace Trainer.Host.Tests.Cli;

/// <summary>The `trainer` executable of this build run as a child process: what a user sees on the terminal, native
/// libraries' own lines on stderr included (an in-process run cannot capture those).</summary>
internal static class HostProcess
{
    /// <summary>The apphost beside the test assembly (the test project references the host).</summary>
    public static string Executable { get; } = Path.Combine(AppContext.BaseDirectory, OperatingSystem.IsWindows() ? "trainer.exe" : "trainer");

    /// <summary>Runs `trainer <paramref name="args"/>` in <paramref name="workingDirectory"/> with extra environment
    /// variables; returns the exit code and both streams.</summary>
    public static (int Code, string Out, string Err) Run(string workingDirectory, IReadOnlyDictionary<string, string>? environment,
        params string[] args) => RunWithInput(workingDirectory, environment, input: null, args);

    /// <summary>As above, with <paramref name="input"/> written to its standard input (then closed).</summary>
    public static (int Code, string Out, string Err) RunWithInput(string workingDirectory, IReadOnlyDictionary<string, string>? environment,
        string? input, params string[] args)
    {
        var start = new ProcessStartInfo(Executable)
        {
            WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
            RedirectStandardInput = input is not null,
        };
        foreach (var a in args) start.ArgumentList.Add(a);
        start.Environment["CI"] = "true";
        foreach (var (k, v) in environment ?? new Dictionary<string, string>()) start.Environment[k] = v;
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (input is not null)
        {
            process.StandardInput.Write(input);
            process.StandardInput.Close();
        }
        process.WaitForExit();
        return (process.ExitCode, stdout.Result, stderr.Result);
    }
}
