namespace Trainer.Abstractions.Compression;

/// <summary>
/// What a data-driven compressor asks of the task's training (<see cref="CompressionRequest.Train"/>): how long to train,
/// and what to add to the loop. The task's own trainer runs it (NNI's Evaluator.train with patched loss and hooks), so a
/// compressor collects activations, gradients or a regularised training without owning the loop. Since contract 1.2.
/// </summary>
/// <remarks>The model trained is <see cref="CompressionRequest.Model"/>; its weights change. Forward hooks a compressor
/// registers on its modules fire during the run (the loop calls the network with <c>call</c>).</remarks>
public sealed record TaskTraining
{
    /// <summary>Epochs to train, at least 1 (with <see cref="MaxSteps"/>: at most this many).</summary>
    public int Epochs { get; init; } = 1;

    /// <summary>Optimizer steps after which the run stops, mid-epoch if need be; 0 = no limit. With a limit, the run takes as
    /// many epochs as the steps need (over <see cref="Epochs"/> if there are more steps than one epoch's batches).</summary>
    public int MaxSteps { get; init; }

    /// <summary>Loss terms added to the task's loss, after the trainer's own (e.g. a sparsity regulariser).</summary>
    public IReadOnlyList<ILossHook> LossHooks { get; init; } = [];

    /// <summary>Callbacks run with the loop's own (e.g. reading gradients before each optimizer step).</summary>
    public IReadOnlyList<TrainerCallback> Callbacks { get; init; } = [];
}
