using System.Globalization;
using Trainer.Core.Models;
using static TorchSharp.torch;

namespace Benchmarks.RatioSearch;

/// <summary>The benchmark's command line: <c>--name value</c> pairs, each with its default.</summary>
internal sealed record BenchOptions
{
    public static readonly string[] AllMethods = ["amc", "genetic", "annealing", "netadapt"];
    public static readonly string[] AllModels = ["fashion-cnn", "residual"];
    public static readonly string[] AllPruners = ["l1", "lasso"];

    public required IReadOnlyList<string> Models { get; init; }
    public required IReadOnlyList<int> Seeds { get; init; }
    public required IReadOnlySet<string> Methods { get; init; }
    public double Target { get; init; }
    public int Episodes { get; init; }
    public int Warmup { get; init; }
    public int Population { get; init; }
    public int Generations { get; init; }
    public int HeldOut { get; init; }
    public int Epochs { get; init; }
    public int FinetuneEpochs { get; init; }
    public int TrainLimit { get; init; }
    public int Threads { get; init; }
    public int ResidualWidth { get; init; }
    public double NetAdaptStep { get; init; }
    public int NetAdaptFinetuneSteps { get; init; }
    public double NetAdaptFinetuneLr { get; init; }
    public int BatchNormBatches { get; init; }
    public int RewardFinetuneSteps { get; init; }
    public int Finalists { get; init; }
    public int FinalistSteps { get; init; }
    public string Pruner { get; init; } = "l1";
    public bool CosineFinetune { get; init; }
    public string? PoliciesDir { get; init; }
    public string? Checkpoint { get; init; }
    public string? SaveDir { get; init; }

    /// <summary>Training (and one-epoch finetuning) settings: SGD, lr 0.01, momentum 0.9, batch 64.</summary>
    public const double LearningRate = 0.01, Momentum = 0.9;
    public const int BatchSize = 64;

    /// <summary>Parses <paramref name="args"/>; an unknown option or a bad value throws one exception naming it.</summary>
    public static BenchOptions Parse(string[] args)
    {
        var o = new Dictionary<string, string>();
        for (int i = 0; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal)) throw new ArgumentException($"'{args[i]}' is not an option; options are --name value");
            o[args[i][2..]] = i + 1 < args.Length && !args[i + 1].StartsWith("--", StringComparison.Ordinal) ? args[++i] : "";
        }
        string[] known = ["model", "seeds", "seed", "methods", "target", "episodes", "warmup", "population", "generations", "held-out", "epochs",
            "finetune-epochs", "train-limit", "threads", "netadapt-step", "finetune-steps", "finetune-lr", "checkpoint", "save-dir", "residual-width",
            "bn-batches", "pruner", "finetune-schedule", "policies", "reward-finetune-steps",
            "finalists", "finalist-steps"];
        foreach (var key in o.Keys)
            if (!known.Contains(key)) throw new ArgumentException($"unknown option --{key}; known: --{string.Join(", --", known)}");
        var c = CultureInfo.InvariantCulture;
        string Opt(string key, string fallback) => o.TryGetValue(key, out var v) && v.Length > 0 ? v : fallback;
        int Int(string key, string fallback) => int.TryParse(Opt(key, fallback), NumberStyles.Integer, c, out var v) && v >= 0 ? v
            : throw new ArgumentException($"--{key} {Opt(key, fallback)}: need a whole number ≥ 0");
        double Real(string key, string fallback) => double.TryParse(Opt(key, fallback), NumberStyles.Float, c, out var v) && v > 0 ? v
            : throw new ArgumentException($"--{key} {Opt(key, fallback)}: need a positive number");
        string[] List(string key, string fallback) => Opt(key, fallback).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

        var models = List("model", "fashion-cnn");
        foreach (var m in models)
            if (!AllModels.Contains(m)) throw new ArgumentException($"--model {m}: unknown; use {string.Join(" or ", AllModels)} (or both, comma-separated)");
        var methods = List("methods", string.Join(',', AllMethods)).ToHashSet();
        foreach (var m in methods)
            if (!AllMethods.Contains(m)) throw new ArgumentException($"--methods {m}: unknown; use some of {string.Join(",", AllMethods)}");
        var pruner = Opt("pruner", "l1");
        if (!AllPruners.Contains(pruner)) throw new ArgumentException($"--pruner {pruner}: unknown; use {string.Join(" or ", AllPruners)}");
        var schedule = Opt("finetune-schedule", "constant");
        if (schedule is not ("constant" or "cosine")) throw new ArgumentException($"--finetune-schedule {schedule}: unknown; use constant or cosine");
        var seeds = List("seeds", Opt("seed", "0")).Select(s => int.TryParse(s, NumberStyles.Integer, c, out var v) ? v
            : throw new ArgumentException($"--seeds {s}: need comma-separated whole numbers, e.g. 0,1,2")).ToList();
        var checkpoint = o.GetValueOrDefault("checkpoint");
        if (models.Length > 1 && checkpoint is { Length: > 0 } && !checkpoint.Contains("{model}", StringComparison.Ordinal))
            throw new ArgumentException("--checkpoint with several models needs '{model}' in the path (e.g. /tmp/rs/{model}.bin), one file per model");
        return new BenchOptions
        {
            Models = models, Seeds = seeds, Methods = methods,
            Target = Real("target", "0.3"), Episodes = Int("episodes", "120"), Warmup = Int("warmup", "30"),
            Population = Int("population", "12"), Generations = Int("generations", "10"), HeldOut = Int("held-out", "2000"),
            Epochs = Int("epochs", "1"), FinetuneEpochs = Int("finetune-epochs", "1"), TrainLimit = Int("train-limit", "0"),
            Threads = Int("threads", "2"), ResidualWidth = Int("residual-width", ResidualFashionNet.DefaultWidth.ToString(c)), NetAdaptStep = Real("netadapt-step", "0.05"), NetAdaptFinetuneSteps = Int("finetune-steps", "20"),
            NetAdaptFinetuneLr = Real("finetune-lr", "0.01"), BatchNormBatches = Int("bn-batches", "0"), RewardFinetuneSteps = Int("reward-finetune-steps", "0"),
            Finalists = Int("finalists", "0"), FinalistSteps = Int("finalist-steps", "50"), Pruner = pruner, CosineFinetune = schedule == "cosine",
            PoliciesDir = o.GetValueOrDefault("policies") is { Length: > 0 } pd ? pd : null,
            Checkpoint = checkpoint is { Length: > 0 } ? checkpoint : null, SaveDir = o.GetValueOrDefault("save-dir") is { Length: > 0 } d ? d : null,
        };
    }

    /// <summary>The checkpoint file of <paramref name="model"/>, or null when none was given.</summary>
    public string? CheckpointOf(string model) => Checkpoint?.Replace("{model}", model, StringComparison.Ordinal);

    /// <summary>A fresh, untrained network of <paramref name="model"/>.</summary>
    public nn.Module<Tensor, Tensor> Create(string model) => model switch
    {
        "fashion-cnn" => new FashionCnn(),
        "residual" => new ResidualFashionNet(ResidualWidth),
        _ => throw new ArgumentException($"unknown model '{model}'"),
    };

    /// <summary>The name a table shows for <paramref name="model"/>.</summary>
    public string Title(string model) => model == "residual" ? $"Residual Fashion net (width {ResidualWidth}, 3 stages × 2 basic blocks)" : "Fashion CNN";
}
