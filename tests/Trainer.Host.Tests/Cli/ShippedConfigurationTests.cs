using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Trainer.Host.Cli;
using Trainer.Host.Options;

namespace Trainer.Host.Tests.Cli;

/// <summary>The repository's appsettings.json, which `dotnet run --project src/Trainer.Host` in the repository reads: every
/// section it has is one the host accepts, and its default job ends with the ONNX export.</summary>
public sealed class ShippedConfigurationTests
{
    private static string ShippedAppSettings()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "appsettings.json")) && dir.EnumerateFiles("Trainer.sln*").Any())
                return Path.Combine(dir.FullName, "appsettings.json");
        throw new InvalidOperationException("the repository's appsettings.json was not found above the test's folder");
    }

    [Fact]
    public void Shipped_appsettings_passes_the_hosts_checks_and_exports_onnx_at_the_end_of_the_default_job()
    {
        var path = ShippedAppSettings();
        ConfigFile.Check(path, "Configuration file");   // unknown sections would be one error here

        using var host = TrainerHost.Build(["--config", path]);
        host.Services.GetRequiredService<IStartupValidator>().Validate();   // every key binds (unknown keys are errors)
        var export = host.Services.GetRequiredService<IOptions<ExportOptions>>().Value;
        Assert.True(export.WritesOnnx);
        Assert.Equal(512, export.OnnxCheckSamples);
        Assert.Equal(["train", "compress", "export"], host.Services.GetRequiredService<IOptions<PipelineOptions>>().Value.EffectiveStages);
        var predict = host.Services.GetRequiredService<IOptions<PredictOptions>>().Value;
        Assert.Equal(("", 0, 64, 1), (predict.Onnx, predict.Samples, predict.BatchSize, predict.Threads));
    }
}
