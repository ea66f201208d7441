using System.Globalization;
using Trainer.Core.Data;

namespace Benchmarks.PrunerComparison;

/// <summary>Command-line options of the benchmark.</summary>
internal sealed record Options
{
    public const int BatchSize = 64;
    public const long Seed = 0;
    public const double LearningRate = 0.01;
    public const double Momentum = 0.9;
    public static readonly IReadOnlyList<string> AllPruners =
        ["level", "l1-norm", "l2-norm", "fpgm", "slim", "apoz", "mean-activation", "taylor-fo", "lasso"];

    public int Epochs { get; init; } = 2;
    public string? Checkpoint { get; init; }
    public IReadOnlyList<string> Pruners { get; init; } = AllPruners;
    public double Target { get; init; } = 0.5;
    public int FinetuneEpochs { get; init; } = 1;
    public double FinetuneLr { get; init; } = 0.001;
    public int TrainingSteps { get; init; } = 20;
    public int SlimEpochs { get; init; } = 1;
    public int Threads { get; init; } = 2;
    public double Subset { get; init; } = 1.0;
    public string DataDir { get; init; } = FashionMnist.DefaultDirectory;

    public const string Usage = "usage: pruner-comparison [--epochs 2 | --checkpoint FILE] [--pruners level,l1-norm,...,lasso] [--target 0.5] " +
                                "[--finetune-epochs 1] [--finetune-lr 0.001] [--training-steps 20] [--slim-epochs 1] [--threads 2] [--subset 1.0] [--data-dir DIR]";

    public static Options Parse(string[] args)
    {
        var o = new Options();
        for (var i = 0; i < args.Length; i += 2)
        {
            if (i + 1 >= args.Length) throw new ArgumentException($"{args[i]} needs a value. {Usage}");
            var value = args[i + 1];
            o = args[i] switch
            {
                "--epochs" => o with { Epochs = int.Parse(value, CultureInfo.InvariantCulture) },
                "--checkpoint" => o with { Checkpoint = value },
                "--pruners" => o with { Pruners = value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) },
                "--target" => o with { Target = double.Parse(value, CultureInfo.InvariantCulture) },
                "--finetune-epochs" => o with { FinetuneEpochs = int.Parse(value, CultureInfo.InvariantCulture) },
                "--finetune-lr" => o with { FinetuneLr = double.Parse(value, CultureInfo.InvariantCulture) },
                "--training-steps" => o with { TrainingSteps = int.Parse(value, CultureInfo.InvariantCulture) },
                "--slim-epochs" => o with { SlimEpochs = int.Parse(value, CultureInfo.InvariantCulture) },
                "--threads" => o with { Threads = int.Parse(value, CultureInfo.InvariantCulture) },
                "--data-dir" => o with { DataDir = value },
                "--subset" => o with { Subset = double.Parse(value, CultureInfo.InvariantCulture) },
                _ => throw new ArgumentException($"unknown option {args[i]}. {Usage}"),
            };
        }
        var unknown = o.Pruners.Except(AllPruners).ToList();
        if (unknown.Count > 0 || o.Pruners.Count == 0)
            throw new ArgumentException($"--pruners: unknown {string.Join(", ", unknown)}; known: {string.Join(", ", AllPruners)}");
        if (o.Target is <= 0 or >= 1) throw new ArgumentException("--target must be in (0, 1)");
        if (o.Subset is <= 0 or > 1) throw new ArgumentException("--subset must be in (0, 1]");
        return o;
    }
}
