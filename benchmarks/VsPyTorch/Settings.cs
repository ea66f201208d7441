namespace Benchmarks.VsPyTorch;

/// <summary>Command-line settings of the benchmark.</summary>
internal sealed record Settings(int Rounds, int Steps, int WarmupSteps, int Threads, string Python, string DataDir,
    string AppSettings, bool IsWorker)
{
    public static Settings Parse(string[] args)
    {
        string Value(string name, string fallback)
        {
            var i = Array.IndexOf(args, name);
            return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
        }
        var repo = FindRepositoryRoot();
        return new Settings(
            Rounds: int.Parse(Value("--rounds", "3")),
            Steps: int.Parse(Value("--steps", "300")),
            WarmupSteps: int.Parse(Value("--warmup-steps", "20")),
            Threads: int.Parse(Value("--threads", "2")),
            Python: Value("--python", "/usr/bin/python3"),
            DataDir: Value("--data-dir", "/usr/share/datasets/fashion-mnist"),
            AppSettings: Path.GetFullPath(Value("--appsettings", Path.Combine(repo, "appsettings.json"))),
            IsWorker: args.Contains("--worker"));
    }

    /// <summary>The folder holding Trainer.sln, searched upwards from the executable.</summary>
    private static string FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Trainer.sln"))) return dir.FullName;
        return Directory.GetCurrentDirectory();
    }

    /// <summary>Arguments that hand these settings to a worker or to the PyTorch script.</summary>
    public string[] WorkerArgs() =>
        ["--worker", "--steps", $"{Steps}", "--warmup-steps", $"{WarmupSteps}", "--threads", $"{Threads}",
         "--data-dir", DataDir, "--appsettings", AppSettings];

    public string[] PythonArgs(string script) =>
        [script, "--threads", $"{Threads}", "--batch-size", "64", "--eval-batch-size", "256", "--steps", $"{Steps}",
         "--warmup-steps", $"{WarmupSteps}", "--data-dir", DataDir];
}
