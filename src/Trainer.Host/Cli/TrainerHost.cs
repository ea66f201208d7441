using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;
using Trainer.Core.Models;
using Trainer.Host.Jobs;
using Trainer.Host.Options;
using Trainer.Host.Plugins;

namespace Trainer.Host.Cli;

/// <summary>Builds the generic host: configuration sources, validated options, logging and the jobs.</summary>
public static class TrainerHost
{
    /// <summary>
    /// Creates the host for <paramref name="args"/> (everything after the verb). "--resume" and
    /// "--config FILE" are turned into configuration; the rest goes to the command-line provider.
    /// </summary>
    /// <param name="args">Everything after the verb.</param>
    /// <param name="configuration">When given, the whole configuration ("Section:Key" → value, e.g. a trial spec's) in place of
    /// appsettings.json and the environment; <paramref name="args"/> still override it.</param>
    public static IHost Build(IReadOnlyList<string> args, IReadOnlyDictionary<string, string>? configuration = null)
    {
        var (rest, extraConfig) = Preprocess(args);
        var contentRoot = Directory.GetCurrentDirectory();
        // The defaults read appsettings.json from the content root when it is there; a damaged one is checked first.
        var appSettings = Path.Combine(contentRoot, "appsettings.json");
        if (configuration is null && (File.Exists(appSettings) || Directory.Exists(appSettings))) ConfigFile.Check(appSettings, "Configuration file");
        if (extraConfig is not null) ConfigFile.Check(extraConfig, "--config file");
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            ContentRootPath = contentRoot,
            DisableDefaults = false,
        });
        if (configuration is not null)
        {
            builder.Configuration.Sources.Clear();
            builder.Configuration.AddInMemoryCollection(configuration.Select(kv => new KeyValuePair<string, string?>(kv.Key, kv.Value)));
        }
        if (extraConfig is not null) builder.Configuration.AddJsonFile(Path.GetFullPath(extraConfig), optional: false, reloadOnChange: false);
        if (configuration is null) builder.Configuration.AddEnvironmentVariables();
        builder.Configuration.AddCommandLine(rest.ToArray());

        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss ";
            o.ColorBehavior = Console.IsOutputRedirected ? LoggerColorBehavior.Disabled : LoggerColorBehavior.Default;
        });

        builder.Services.AddOptions<TrainerOptions>()
            .Bind(builder.Configuration.GetSection(TrainerOptions.Section), b => b.ErrorOnUnknownConfiguration = true)
            .ValidateOnStart();
        builder.Services.AddOptions<DataOptions>()
            .Bind(builder.Configuration.GetSection(DataOptions.Section), b => b.ErrorOnUnknownConfiguration = true)
            .ValidateOnStart();
        builder.Services.AddOptions<ModelOptions>()
            .Bind(builder.Configuration.GetSection(ModelOptions.Section), b => b.ErrorOnUnknownConfiguration = true)
            .ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<ModelOptions>, ModelOptionsValidator>();
        builder.Services.AddOptions<AnalyzeOptions>()
            .Bind(builder.Configuration.GetSection(AnalyzeOptions.Section), b => b.ErrorOnUnknownConfiguration = true)
            .ValidateOnStart();
        builder.Services.AddOptions<CompressionOptions>()
            .Bind(builder.Configuration.GetSection(CompressionOptions.Section), b => b.ErrorOnUnknownConfiguration = true)
            .ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<CompressionOptions>, CompressionOptionsValidator>();
        builder.Services.AddOptions<PipelineOptions>()
            .Bind(builder.Configuration.GetSection(PipelineOptions.Section), b => b.ErrorOnUnknownConfiguration = true)
            .ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<PipelineOptions>, PipelineOptionsValidator>();
        builder.Services.AddOptions<QuantizationOptions>()
            .Bind(builder.Configuration.GetSection(QuantizationOptions.Section), b => b.ErrorOnUnknownConfiguration = true)
            .ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<QuantizationOptions>, QuantizationOptionsValidator>();
        builder.Services.AddOptions<ExportOptions>()
            .Bind(builder.Configuration.GetSection(ExportOptions.Section), b => b.ErrorOnUnknownConfiguration = true)
            .ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<ExportOptions>, ExportOptionsValidator>();
        builder.Services.AddOptions<PredictOptions>()
            .Bind(builder.Configuration.GetSection(PredictOptions.Section), b => b.ErrorOnUnknownConfiguration = true)
            .ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<PredictOptions>, PredictOptionsValidator>();
        builder.Services.AddOptions<SearchOptions>()
            .Bind(builder.Configuration.GetSection(SearchOptions.Section), b => b.ErrorOnUnknownConfiguration = true)
            .ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<SearchOptions>, SearchOptionsValidator>();
        builder.Services.AddSingleton<PluginLoader>();
        builder.Services.AddOptions<TaskOptions>()
            .Bind(builder.Configuration.GetSection(TaskOptions.Section), b => b.ErrorOnUnknownConfiguration = true);
        builder.Services.AddSingleton<Tasks.TaskProvider>();
        builder.Services.AddSingleton<IValidateOptions<AnalyzeOptions>, AnalyzeOptionsValidator>();
        builder.Services.AddSingleton<IValidateOptions<TrainerOptions>, TrainerOptionsValidator>();
        builder.Services.AddSingleton<IValidateOptions<DataOptions>, DataOptionsValidator>();
        builder.Services.AddTransient<TrainerFactory>();
        builder.Services.AddTransient<TrainJob>();
        builder.Services.AddTransient<CompressJob>();
        builder.Services.AddTransient<QuantizeJob>();
        builder.Services.AddTransient<ExportJob>();
        builder.Services.AddTransient<PredictJob>();
        builder.Services.AddTransient<PipelineJob>();
        builder.Services.AddTransient<SearchJob>();
        builder.Services.AddTransient<AnalyzeJob>();
        builder.Services.AddTransient<SensitivityCommand>();
        builder.Services.AddTransient<GraphCommands>();
        return builder.Build();
    }

    private static (List<string> Overrides, string? Config) Preprocess(IReadOnlyList<string> args)
    {
        var rest = new List<string>();
        string? config = null;
        for (var i = 0; i < args.Count; i++)
        {
            switch (args[i])
            {
                case "--resume":
                    rest.Add("--Trainer:Resume=true");
                    break;
                case "--config" when i + 1 < args.Count:
                    config = args[++i];
                    break;
                case "--config":
                    throw new JobException("--config needs a file name: --config <file.json>.");
                default:
                    if (!args[i].StartsWith("--") && !args[i].StartsWith('/') && (i == 0 || !args[i - 1].StartsWith("--") || args[i - 1].Contains('=')))
                        throw new JobException($"Unexpected argument '{args[i]}'. Overrides look like --Trainer:Epochs=3; see trainer --help.");
                    rest.Add(args[i]);
                    break;
            }
        }
        return (rest, config);
    }
}
