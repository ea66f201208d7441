using System.Globalization;
using Trainer.Core.Data;

namespace Benchmarks.FashionCompression;

/// <summary>Command-line settings of the benchmark.</summary>
internal sealed record BenchOptions
{
    public const int BatchSize = 64;
    public const long Seed = 0;
    public const double LearningRate = 0.01;
    public const double Momentum = 0.9;

    /// <summary>Training epochs of the unpruned model (when no checkpoint is given).</summary>
    public int Epochs { get; init; } = 2;

    /// <summary>A checkpoint of <c>trainer train</c> with FashionCnn weights, used instead of training.</summary>
    public string? Checkpoint { get; init; }

    /// <summary>Where the training of the unpruned model writes its checkpoints (last.ckpt can be passed to --checkpoint later).</summary>
    public string? CheckpointDir { get; init; }

    /// <summary>Rows of the report, by name in <see cref="MethodCatalog"/>.</summary>
    public IReadOnlyList<string> Methods { get; init; } = ["lasso", "l1"];

    /// <summary>Fraction of the MACs the pruned models keep.</summary>
    public double TargetFlopsRatio { get; init; } = 0.5;

    /// <summary>Fine-tune epochs after pruning.</summary>
    public int FinetuneEpochs { get; init; } = 1;

    /// <summary>Fine-tune SGD learning rate.</summary>
    public double FinetuneLr { get; init; } = 0.001;

    /// <summary>torch.set_num_threads.</summary>
    public int Threads { get; init; } = 2;

    /// <summary>Folder with the four Fashion-MNIST IDX files.</summary>
    public string DataDir { get; init; } = FashionMnist.DefaultDirectory;

    public const string Usage =
        "usage: fashion-compression [--epochs N (2)] [--checkpoint FILE] [--methods lasso,l1] [--target 0.5] " +
        "[--checkpoint-dir DIR] [--finetune-epochs 1] [--finetune-lr 0.001] [--threads 2] [--data-dir DIR]";

    /// <summary>Parses the arguments; throws <see cref="ArgumentException"/> with a readable message.</summary>
    public static BenchOptions Parse(string[] args)
    {
        var o = new BenchOptions();
        for (var i = 0; i < args.Length; i++)
        {
            var name = args[i];
            if (name is "-h" or "--help") throw new ArgumentException(Usage);
            if (i + 1 >= args.Length) throw new ArgumentException($"{name} needs a value.\n{Usage}");
            var value = args[++i];
            o = name switch
            {
                "--epochs" => o with { Epochs = Positive(name, value) },
                "--checkpoint" => o with { Checkpoint = File.Exists(value) ? value : throw new ArgumentException($"--checkpoint: no file '{value}'.") },
                "--checkpoint-dir" => o with { CheckpointDir = value },
                "--methods" => o with { Methods = MethodCatalog.Check(value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)) },
                "--target" => o with { TargetFlopsRatio = Ratio(name, value) },
                "--finetune-epochs" => o with { FinetuneEpochs = int.TryParse(value, out var e) && e >= 0 ? e : throw new ArgumentException($"{name} must be an integer >= 0, got '{value}'.") },
                "--finetune-lr" => o with { FinetuneLr = Ratio(name, value) },
                "--threads" => o with { Threads = Positive(name, value) },
                "--data-dir" => o with { DataDir = value },
                _ => throw new ArgumentException($"Unknown argument '{name}'.\n{Usage}"),
            };
        }
        return o;
    }

    private static int Positive(string name, string value) =>
        int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n > 0
            ? n
            : throw new ArgumentException($"{name} must be a positive integer, got '{value}'.");

    private static double Ratio(string name, string value) =>
        double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && v > 0 && v <= 1
            ? v
            : throw new ArgumentException($"{name} must be a number in (0, 1], got '{value}'.");
}
