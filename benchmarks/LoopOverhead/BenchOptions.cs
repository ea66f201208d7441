using System.Globalization;
using Trainer.Core.Data;

namespace Trainer.Benchmarks.LoopOverhead;

/// <summary>Command-line settings of the benchmark.</summary>
internal sealed record BenchOptions
{
    public const int BatchSize = 64;
    public const long Seed = 0;
    public const double LearningRate = 0.01;
    public const double Momentum = 0.9;
    public const int LogEvery = 50;

    /// <summary>Optimizer steps per timed round (one epoch of a seeded subset).</summary>
    public int Steps { get; init; } = 300;

    /// <summary>Timed pairs (one trainer and one plain round each), order alternating AB, BA, ...</summary>
    public int Rounds { get; init; } = 5;

    /// <summary>torch.set_num_threads.</summary>
    public int Threads { get; init; } = 2;

    /// <summary>Steps of the untimed warm-up round of each variant.</summary>
    public int WarmupSteps { get; init; } = 50;

    /// <summary>Folder with the four Fashion-MNIST IDX files.</summary>
    public string DataDir { get; init; } = FashionMnist.DefaultDirectory;

    public const string Usage =
        "usage: loop-overhead [--steps N (300)] [--rounds R (5)] [--threads T (2)] [--warmup-steps W (50)] [--data-dir DIR]";

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
                "--steps" => o with { Steps = Positive(name, value) },
                "--rounds" => o with { Rounds = Positive(name, value) },
                "--threads" => o with { Threads = Positive(name, value) },
                "--warmup-steps" => o with { WarmupSteps = Positive(name, value) },
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
}
