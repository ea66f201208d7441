using static TorchSharp.torch;

namespace Trainer.Core.Pruning.Importance;

/// <summary>
/// Which Conv2d/Linear each BatchNorm2d reads directly: slim ranks a BatchNorm's channels by |γ| and prunes them in the
/// layer that produces them (NNI's speedup carries a BatchNorm mask to that layer the same way).
/// </summary>
public static class BatchNormProducers
{
    /// <summary>
    /// Each BatchNorm layer's producer, by qualified names: the Conv2d/Linear whose output tensor the BatchNorm reads
    /// directly, found by one eval forward of a random input of <paramref name="inputShape"/>. BatchNorms that read anything
    /// else (a residual sum, a concatenation) are left out. The model's weights and statistics are not changed.
    /// </summary>
    public static Dictionary<string, string> Find(nn.Module<Tensor, Tensor> model, IReadOnlyList<long> inputShape)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(inputShape);
        // A model may dispose a layer's output once the next layer has run, and a later tensor may get its handle: a match
        // counts only when the values are the producer's too.
        var outputs = new Dictionary<(IntPtr, string), (string Layer, Tensor Values)>();
        var producers = new Dictionary<string, string>(StringComparer.Ordinal);
        var removers = new List<Action>();
        var wasTraining = model.training;
        try
        {
            foreach (var (name, module) in model.named_modules())
            {
                var layer = name;
                if (module is TorchSharp.Modules.Conv2d or TorchSharp.Modules.Linear)
                    removers.Add(((nn.Module<Tensor, Tensor>)module).register_forward_hook((_, _, output) =>
                    {
                        if (outputs.Remove(Key(output), out var stale)) stale.Values.Dispose();
                        outputs[Key(output)] = (layer, output.clone().DetachFromDisposeScope());
                        return null!;
                    }).remove);
                else if (module is TorchSharp.Modules.BatchNorm2d bn)
                    removers.Add(bn.register_forward_pre_hook((_, input) =>
                    {
                        if (outputs.TryGetValue(Key(input), out var producer) && input.equal(producer.Values).all().item<bool>())
                            producers[layer] = producer.Layer;
                        return null!;
                    }).remove);
            }
            model.eval();
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            model.call(rand(inputShape.ToArray(), generator: new Generator(0)));
        }
        finally
        {
            foreach (var remove in removers) remove();
            foreach (var (_, values) in outputs.Values) values.Dispose();
            model.train(wasTraining);
        }
        return producers;
    }

    // The tensor a layer returned is the object the next module is called with (Sequential and user forwards pass it on).
    private static (IntPtr, string) Key(Tensor t) => (t.Handle, string.Join("x", t.shape));
}
