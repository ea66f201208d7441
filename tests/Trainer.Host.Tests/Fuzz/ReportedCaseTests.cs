using System.Diagnostics;
using Trainer.Core.Tests.Fuzz;

namespace Trainer.Host.Tests.Fuzz;

/// <summary>
/// The case reported in issue 11, end to end in a real process: a checkpoint with four bytes overwritten inside its header
/// (offset 5000) made `trainer compress` die with an unhandled JsonException and exit code 134. In-process tests cannot see
/// an abort or what reaches the real stderr; this one runs the executable.
/// </summary>
[Collection(FuzzRun.Collection)]
public sealed class ReportedCaseTests(FuzzRun run)
{
    [Fact]
    public async Task A_checkpoint_overwritten_at_offset_5000_exits_1_with_one_line_on_stderr_and_no_stack_trace()
    {
        var folder = run.NewCase("reported");
        var checkpoint = Path.Combine(folder, "ckpt", "r", "best.ckpt");
        using (var file = new FileStream(checkpoint, FileMode.Open, FileAccess.ReadWrite))
        {
            var header = new byte[4];
            file.Position = 12;
            file.ReadExactly(header);
            Assert.True(BitConverter.ToInt32(header) > 5000, "offset 5000 must lie inside the header, as reported");
            file.Position = 5000;
            file.Write("\xff\x00\x7f!"u8);
        }
        var before = Damage.Hashes(folder);

        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            WorkingDirectory = folder, RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false,
        };
        string[] args =
        [
            Path.Combine(AppContext.BaseDirectory, "trainer.dll"), "compress", "--Trainer:RunName=r2", $"--Model:Checkpoint={checkpoint}",
            $"--Data:Path={Path.Combine(folder, "data")}", $"--Trainer:LogDir={Path.Combine(folder, "runs")}",
            $"--Trainer:CheckpointDir={Path.Combine(folder, "ckpt")}", .. FuzzRun.Settings.Where(s => !s.StartsWith("--Trainer:RunName")),
        ];
        foreach (var arg in args) start.ArgumentList.Add(arg);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEnd();
        Assert.True(process.WaitForExit(120_000), "trainer did not finish in 2 minutes");
        _ = await stdout;

        FuzzRun.AssertOneErrorAndNothingChanged((process.ExitCode, "", stderr), 1, checkpoint, "bytes 5000-5003 overwritten", before, folder);
        Assert.Contains("is corrupt (checksum mismatch)", stderr);
    }
}
