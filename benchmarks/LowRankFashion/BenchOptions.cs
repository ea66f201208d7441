using System.Globalization;
using Trainer.Core.Data;

namespace Benchmarks.LowRankFashion;

/// <summary>Command-line options of the benchmark.</summary>
public sealed record BenchOptions
{
    /// <summary>Epochs of baseline training (when no checkpoint is loaded).</summary>
    public int Epochs { get; init; } = 2;

    /// <summary>Fraction of the selected (conv) layers' MACs to keep.</summary>
    public double Target { get; init; } = 0.5;

    /// <summary>Finetune epochs after decomposition.</summary>
    public int FinetuneEpochs { get; init; } = 1;

    /// <summary>AdamW learning rate of the finetune (constant).</summary>
    public double FinetuneLr { get; init; } = 1e-4;

    /// <summary>Training batch size.</summary>
    public int BatchSize { get; init; } = 128;

    /// <summary>Seed of initialisation, shuffling and sampling.</summary>
    public int Seed { get; init; }

    /// <summary>Fit methods to compare: "svd", "regression" (asymmetric), "nonlinear"; each with "-uniform" for one MACs
    /// fraction per layer instead of ranks by spectral energy.</summary>
    public IReadOnlyList<string> Methods { get; init; } = ["svd", "nonlinear"];

    /// <summary>A trained FashionCnn checkpoint to load instead of training; null trains.</summary>
    public string? Checkpoint { get; init; }

    /// <summary>Where baseline training writes its checkpoints (last.ckpt), so a later run can pass --checkpoint; null writes none.</summary>
    public string? SaveDir { get; init; }

    /// <summary>Fraction of the training set used for training, finetuning and sampling (1: all; smaller for a smoke run).</summary>
    public double TrainSubset { get; init; } = 1.0;

    /// <summary>Torch intra-op threads (0 keeps the default). On a loaded machine 1 is often faster: LAPACK's threads spin.</summary>
    public int Threads { get; init; }

    /// <summary>Fashion-MNIST folder.</summary>
    public string DataDir { get; init; } = FashionMnist.DefaultDirectory;

    /// <summary>Parses "--name value" pairs; throws naming the flag on a bad one.</summary>
    public static BenchOptions Parse(string[] args)
    {
        var o = new BenchOptions();
        for (var i = 0; i < args.Length; i++)
        {
            var flag = args[i];
            var value = i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{flag} needs a value");
            o = flag switch
            {
                "--epochs" => o with { Epochs = int.Parse(value, CultureInfo.InvariantCulture) },
                "--target" => o with { Target = double.Parse(value, CultureInfo.InvariantCulture) },
                "--finetune-epochs" => o with { FinetuneEpochs = int.Parse(value, CultureInfo.InvariantCulture) },
                "--finetune-lr" => o with { FinetuneLr = double.Parse(value, CultureInfo.InvariantCulture) },
                "--batch-size" => o with { BatchSize = int.Parse(value, CultureInfo.InvariantCulture) },
                "--seed" => o with { Seed = int.Parse(value, CultureInfo.InvariantCulture) },
                "--methods" => o with { Methods = value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) },
                "--checkpoint" => o with { Checkpoint = value },
                "--save-dir" => o with { SaveDir = value },
                "--data" => o with { DataDir = value },
                "--threads" => o with { Threads = int.Parse(value, CultureInfo.InvariantCulture) },
                "--train-subset" => o with { TrainSubset = double.Parse(value, CultureInfo.InvariantCulture) },
                _ => throw new ArgumentException(
                    $"unknown option {flag}; known: --epochs --target --finetune-epochs --finetune-lr --batch-size --seed --methods " +
                    "--checkpoint --save-dir --data --train-subset --threads"),
            };
        }
        if (o.Checkpoint is not null && !File.Exists(o.Checkpoint))
            throw new ArgumentException($"--checkpoint {o.Checkpoint}: no such file (train once with --save-dir DIR, then pass DIR/last.ckpt)");
        string[] known = ["svd", "regression", "nonlinear", "svd-uniform", "regression-uniform", "nonlinear-uniform"];
        var unknown = o.Methods.Except(known).ToList();
        if (unknown.Count > 0) throw new ArgumentException($"--methods: unknown {string.Join(", ", unknown)}; known: {string.Join(", ", known)}");
        return o;
    }
}
