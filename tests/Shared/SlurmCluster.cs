using System.Diagnostics;

namespace Trainer.Tests.Shared;

/// <summary>The real one-node Slurm cluster the Slurm runner's tests run against: build/slurm/start-single-node.sh
/// starts it (munged, slurmctld, slurmd) when it is down and returns at once when it is up. A machine where it cannot
/// start fails these tests with the script's message; they are never skipped.</summary>
public sealed class SlurmCluster
{
    /// <summary>Starts the cluster (or finds it up).</summary>
    public SlurmCluster()
    {
        var script = FindScript();
        var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(script);
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        process.WaitForExit();
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"{script} could not start the one-node Slurm cluster (exit code {process.ExitCode}): {error.Result}{output.Result}");
        Status = output.Result.Trim();
    }

    /// <summary>What the script reported (the node and its state).</summary>
    public string Status { get; }

    private static string FindScript()
    {
        for (var folder = new DirectoryInfo(AppContext.BaseDirectory); folder is not null; folder = folder.Parent)
        {
            var script = Path.Combine(folder.FullName, "build", "slurm", "start-single-node.sh");
            if (File.Exists(script)) return script;
        }
        throw new FileNotFoundException($"build/slurm/start-single-node.sh not found above {AppContext.BaseDirectory}.");
    }
}

/// <summary>Tests that share the cluster.</summary>
[CollectionDefinition(Name)]
public sealed class SlurmClusterCollection : ICollectionFixture<SlurmCluster>
{
    /// <summary>The collection's name.</summary>
    public const string Name = "Slurm cluster";
}
