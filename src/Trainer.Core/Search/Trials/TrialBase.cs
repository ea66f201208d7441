using System.Security.Cryptography;
using Trainer.Core.Checkpoints;
using Trainer.Core.Compression;
using static TorchSharp.torch;

namespace Trainer.Core.Search.Trials;

/// <summary>The short-term finetuning a NetAdapt candidate gets, as a trial spec carries it: the optimizer settings of
/// <see cref="ShortTrainingOptions"/> and the training loader's batch size and shuffle seed.</summary>
/// <param name="Steps">Optimizer steps (0: <paramref name="Epochs"/> whole epochs).</param>
/// <param name="Epochs">Epochs when <paramref name="Steps"/> is 0.</param>
/// <param name="LearningRate">SGD learning rate.</param>
/// <param name="Momentum">SGD momentum.</param>
/// <param name="Seed">Seed set before the training.</param>
/// <param name="BatchSize">Batch size of the training loader.</param>
/// <param name="LoaderSeed">Shuffle seed of the training loader.</param>
public sealed record TrialFinetune(int Steps, int Epochs, double LearningRate, double Momentum, int Seed, int BatchSize, long LoaderSeed)
{
    /// <summary>The finetuning of <paramref name="options"/> on a loader of <paramref name="batchSize"/> shuffled with <paramref name="loaderSeed"/>.</summary>
    public static TrialFinetune Of(ShortTrainingOptions options, int batchSize, long loaderSeed)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        return new(options.Steps, options.Epochs, options.LearningRate, options.Momentum, options.Seed, batchSize, loaderSeed);
    }

    /// <summary>The optimizer settings.</summary>
    public ShortTrainingOptions Training => new() { Steps = Steps, Epochs = Epochs, LearningRate = LearningRate, Momentum = Momentum, Seed = Seed };
}

/// <summary>
/// The model a finetuned candidate is pruned from (NetAdapt's adopted base), as data: a weights file (named by its content's
/// hash, written atomically), the edits that give the factory's architecture its shapes, and the finetuning. A trial rebuilds
/// it with <see cref="Rebuild"/> and scores the candidate as <see cref="FinetuningPolicyScorer.Score"/> does.
/// </summary>
/// <param name="Weights">Absolute path of the weights file (checkpoint weights format).</param>
/// <param name="WeightsHash">First 16 hex digits of the file's SHA-256: a spec names the exact weights, so its hash (which names
/// its result) changes with them, and a file overwritten since is refused.</param>
/// <param name="Edits">All edits that made the base from the factory's architecture, in order.</param>
/// <param name="Finetune">The candidate's short-term finetuning.</param>
public sealed record TrialBase(string Weights, string WeightsHash, IReadOnlyList<ModelEdit> Edits, TrialFinetune Finetune)
{
    /// <summary>Writes <paramref name="scorer"/>'s current base into <paramref name="folder"/> as <c>base-&lt;hash&gt;.bin</c>
    /// (through a temp file; a file of that name already there has the same content and is kept) and describes it.</summary>
    public static TrialBase Write(FinetuningPolicyScorer scorer, string folder, TrialFinetune finetune)
    {
        ArgumentNullException.ThrowIfNull(scorer);
        ArgumentException.ThrowIfNullOrEmpty(folder);
        ArgumentNullException.ThrowIfNull(finetune);
        folder = Path.GetFullPath(folder);
        Directory.CreateDirectory(folder);
        var temp = Path.Combine(folder, $"base-{Guid.NewGuid():N}.partial");
        try
        {
            scorer.SaveBase(temp);
            var hash = HashOf(temp);
            var path = Path.Combine(folder, $"base-{hash}.bin");
            if (File.Exists(path)) File.Delete(temp);
            else File.Move(temp, path);
            return new TrialBase(path, hash, [.. scorer.BaseEdits], finetune);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }

    /// <summary>First 16 hex digits of the SHA-256 of the file at <paramref name="path"/>.</summary>
    public static string HashOf(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexString(SHA256.HashData(stream))[..16].ToLowerInvariant();
    }

    /// <summary>Builds the factory's model, replays <see cref="Edits"/> and loads <see cref="Weights"/> (in eval mode).</summary>
    /// <param name="factory">Builds a fresh model of the original architecture.</param>
    /// <param name="inputShape">Example input shape, batch included.</param>
    /// <param name="specPath">The spec naming this base, for the messages.</param>
    /// <exception cref="InvalidTrialSpecException">The weights file is missing, has other content than the spec names, or its
    /// weights or the edits do not fit the factory's model; the message names the file.</exception>
    public nn.Module<Tensor, Tensor> Rebuild(Func<nn.Module<Tensor, Tensor>> factory, long[] inputShape, string specPath)
    {
        ArgumentNullException.ThrowIfNull(factory);
        if (!File.Exists(Weights))
            throw new InvalidTrialSpecException($"The trial spec '{specPath}' names the base weights '{Weights}', which do not exist. " +
                                                "The search writes them into its trials folder: run the trial where that folder is visible, or run the search again.");
        var hash = HashOf(Weights);
        if (hash != WeightsHash)
            throw new InvalidTrialSpecException($"The base weights '{Weights}' of the trial spec '{specPath}' have hash {hash}, not the spec's {WeightsHash}: " +
                                                "the file was replaced. Run the search again to write both anew.");
        return RebuildFrom(Weights, factory, inputShape, Edits, why => new InvalidTrialSpecException(
            $"The base weights '{Weights}' of the trial spec '{specPath}' do not fit the model its configuration builds with the spec's {Edits.Count} edit(s): {why}"));
    }

    /// <summary>The factory's model with <paramref name="edits"/> replayed and the weights at <paramref name="weightsPath"/> loaded
    /// (eval mode); disposed, and <paramref name="misfit"/>'s exception thrown, when the edits or weights do not fit it.</summary>
    internal static nn.Module<Tensor, Tensor> RebuildFrom(string weightsPath, Func<nn.Module<Tensor, Tensor>> factory, long[] inputShape,
        IReadOnlyList<ModelEdit> edits, Func<string, Exception> misfit)
    {
        var model = factory();
        try
        {
            EditReplay.Apply(model, inputShape, edits);
            CheckpointFile.LoadWeights(weightsPath, model);
            model.eval();
            return model;
        }
        catch (Exception e) when (e is ManifestMismatchException or CheckpointException)
        {
            model.Dispose();
            throw misfit(e.Message);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }
}
