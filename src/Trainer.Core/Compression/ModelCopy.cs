using static TorchSharp.torch;

namespace Trainer.Core.Compression;

/// <summary>An independent copy of an edited model: same architecture, same edits, same weights and buffers, no shared tensor.</summary>
public static class ModelCopy
{
    /// <summary>
    /// Builds a model with <paramref name="factory"/>, replays <paramref name="edits"/> on it and loads <paramref name="source"/>'s
    /// state_dict into it. The copy has the source's training flags. Used for the reference model of a compression step and for checkpoints.
    /// </summary>
    /// <param name="factory">Builds a fresh model of the original architecture.</param>
    /// <param name="inputShape">Example input shape, batch included.</param>
    /// <param name="edits">The edits that made <paramref name="source"/> from the original architecture.</param>
    /// <param name="source">The model to copy; not changed.</param>
    /// <exception cref="ManifestMismatchException">The edits do not fit the factory's model.</exception>
    /// <exception cref="ArgumentException">The replayed model's state_dict does not match the source's (names the keys).</exception>
    public static nn.Module<Tensor, Tensor> Create(Func<nn.Module<Tensor, Tensor>> factory, long[] inputShape,
        IReadOnlyList<ModelEdit> edits, nn.Module<Tensor, Tensor> source)
    {
        ArgumentNullException.ThrowIfNull(factory);
        ArgumentNullException.ThrowIfNull(source);
        // A copy's initial weights are overwritten: building it must not move the training's random generator.
        using var rng = Training.RandomState.Preserve();
        var copy = factory() ?? throw new ArgumentException("the model factory returned null", nameof(factory));
        if (ReferenceEquals(copy, source))
        {
            throw new ArgumentException("the model factory returned the source model itself; it must build a new model", nameof(factory));
        }
        try
        {
            EditReplay.Apply(copy, inputShape, edits);
            LoadFrom(copy, source);
            // By name: a replaced module moves to the end of named_modules, so positions differ. Parents come before their
            // children, and train() recurses, so each module ends with its own flag.
            var flags = source.named_modules().ToDictionary(m => m.name, m => m.module.training);
            copy.train(source.training);
            foreach (var (name, module) in copy.named_modules())
                if (flags.TryGetValue(name, out var training)) module.train(training);
            return copy;
        }
        catch
        {
            copy.Dispose();
            throw;
        }
    }

    /// <summary>Copies every parameter and buffer of <paramref name="source"/> into <paramref name="target"/> by name.</summary>
    /// <exception cref="ArgumentException">The two state_dicts differ in keys or shapes.</exception>
    public static void LoadFrom(nn.Module<Tensor, Tensor> target, nn.Module<Tensor, Tensor> source)
    {
        var from = source.state_dict();
        var to = target.state_dict();
        var missing = to.Keys.Except(from.Keys).ToList();
        var extra = from.Keys.Except(to.Keys).ToList();
        var shapes = to.Keys.Intersect(from.Keys).Where(k => !to[k].shape.SequenceEqual(from[k].shape))
            .Select(k => $"{k} [{string.Join(",", to[k].shape)}] vs [{string.Join(",", from[k].shape)}]").ToList();
        if (missing.Count + extra.Count + shapes.Count > 0)
            throw new ArgumentException("the rebuilt model does not match the source: " + string.Join("; ", new[]
            {
                missing.Count > 0 ? "not in the source: " + string.Join(", ", missing) : null,
                extra.Count > 0 ? "not in the rebuilt model: " + string.Join(", ", extra) : null,
                shapes.Count > 0 ? "shapes differ: " + string.Join(", ", shapes) : null,
            }.Where(s => s is not null)), nameof(source));
        using (no_grad())
            foreach (var (key, tensor) in to) tensor.copy_(from[key]);
    }
}
