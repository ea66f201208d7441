using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Trainer.Host.Cli;
using Trainer.Host.Jobs;

namespace Benchmarks.VsPyTorch;

/// <summary>Our side: the host's own train job (appsettings.json plus overrides), timed by a callback.</summary>
internal static class Worker
{
    public static int Run(Settings s)
    {
        var work = Path.Combine(Path.GetTempPath(), "vs-pytorch-" + Environment.ProcessId);
        string[] args =
        [
            "--config", s.AppSettings,
            "--Trainer:Epochs=1", $"--Trainer:MaxSteps={(s.Steps > 0 ? s.Steps + s.WarmupSteps : 0)}",
            $"--Trainer:Threads={s.Threads}", "--Trainer:RunName=bench", $"--Trainer:LogDir={work}/runs",
            $"--Trainer:CheckpointDir={work}/ckpt", $"--Data:Path={s.DataDir}",
        ];
        try
        {
            using var host = TrainerHost.Build(args);
            host.Services.GetRequiredService<IStartupValidator>().Validate();
            var timing = new TimingCallback(s.WarmupSteps);
            var result = host.Services.GetRequiredService<TrainJob>().Run([timing]);
            Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["framework"] = "trainer",
                ["threads"] = s.Threads,
                ["steps"] = result.GlobalStep - s.WarmupSteps,
                ["train_samples_per_s"] = Math.Round(timing.TimedSamples / timing.TrainSeconds, 2),
                ["eval_samples_per_s"] = Math.Round(10000 / timing.EvalSeconds, 2),
                ["first_losses"] = timing.FirstLosses,
                ["test_accuracy"] = Math.Round(result.Metrics["val/accuracy"], 5),
                ["test_loss"] = Math.Round(result.Metrics["val/total_loss"], 5),
                ["peak_rss_mib"] = Math.Round(PeakRssMib(), 1),
            }));
            return 0;
        }
        finally
        {
            if (Directory.Exists(work)) Directory.Delete(work, recursive: true);
        }
    }

    /// <summary>VmHWM of this process, the same measure as Python's ru_maxrss.</summary>
    public static double PeakRssMib()
    {
        var line = File.ReadLines("/proc/self/status").First(l => l.StartsWith("VmHWM:"));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) / 1024.0;
    }
}
