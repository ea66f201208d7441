namespace Trainer.Core.Optimization;

/// <summary>Which optimizer to build and its hyper-parameters.</summary>
public sealed record OptimizerOptions
{
    /// <summary>Accepted optimizer names.</summary>
    public static readonly IReadOnlyList<string> Names = ["sgd", "adam", "adamw"];

    /// <summary>"sgd", "adam" or "adamw".</summary>
    public string Name { get; init; } = "sgd";

    /// <summary>Initial learning rate.</summary>
    public double LearningRate { get; init; } = 0.01;

    /// <summary>SGD momentum.</summary>
    public double Momentum { get; init; } = 0.9;

    /// <summary>L2 penalty (decoupled for AdamW).</summary>
    public double WeightDecay { get; init; }

    /// <summary>Nesterov momentum for SGD.</summary>
    public bool Nesterov { get; init; }
}

/// <summary>Builds optimizers from <see cref="OptimizerOptions"/>.</summary>
public static class OptimizerFactory
{
    /// <summary>Creates the optimizer named in <paramref name="options"/> over <paramref name="parameters"/>.</summary>
    public static TorchSharp.Modules.OptimizerHelper Create(OptimizerOptions options, IEnumerable<TorchSharp.Modules.Parameter> parameters) =>
        options.Name.ToLowerInvariant() switch
        {
            "sgd" => TorchSharp.torch.optim.SGD(parameters, options.LearningRate, options.Momentum,
                weight_decay: options.WeightDecay, nesterov: options.Nesterov),
            "adam" => TorchSharp.torch.optim.Adam(parameters, options.LearningRate, weight_decay: options.WeightDecay),
            "adamw" => TorchSharp.torch.optim.AdamW(parameters, options.LearningRate, weight_decay: options.WeightDecay),
            _ => throw new ArgumentException(
                $"Unknown optimizer '{options.Name}'. Accepted: {string.Join(", ", OptimizerOptions.Names)}."),
        };
}
