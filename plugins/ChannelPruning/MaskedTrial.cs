using Trainer.Abstractions.Compression;
using TorchSharp;
using static TorchSharp.torch;

namespace Plugins.ChannelPruning;

/// <summary>
/// Makes the model behave, until disposed, as if a group had been pruned to <c>keep</c>: each consumer's inputs from the
/// dropped channels are zeroed by a forward pre-hook, and the refit weights (when given) replace the kept channels'
/// weights. Disposing removes the hooks and restores the weights, so nothing of the trial remains.
/// </summary>
internal sealed class MaskedTrial : IDisposable
{
    private readonly List<Action> undo = [];

    /// <param name="model">The model under compression.</param>
    /// <param name="group">The group as it is now (before its shrink).</param>
    /// <param name="keep">One flag per current channel.</param>
    /// <param name="refitByConsumer">Consumer name → refit weights [Cout, kept, BlockSize·kk] of its kept channels.</param>
    public MaskedTrial(nn.Module<Tensor, Tensor> model, ChannelGroupInfo group, bool[] keep, IReadOnlyDictionary<string, Tensor> refitByConsumer)
    {
        try
        {
            // One mask per layer: a layer listed once per slice it reads gets all of them in one hook.
            foreach (var reads in group.Consumers.Concat(group.SliceConsumers).GroupBy(c => c.Layer))
            {
                var layer = WeightLayer.Find(model, reads.Key)
                            ?? throw new InvalidOperationException($"Consumer {reads.Key} of group {group.Id} is not a convolution or Linear of the model.");
                Mask(layer, reads.ToList(), keep);
            }
            foreach (var consumer in group.Consumers)
                if (refitByConsumer.TryGetValue(consumer.Layer, out var block)) Overwrite(WeightLayer.Find(model, consumer.Layer)!, consumer, keep, block);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>Removes the masks and restores the weights, last change first.</summary>
    public void Dispose()
    {
        for (int i = undo.Count - 1; i >= 0; i--) undo[i]();
        undo.Clear();
    }

    private void Mask(WeightLayer layer, IReadOnlyList<ChannelConsumer> reads, bool[] keep)
    {
        long inputs = layer.InChannels;
        var flags = Enumerable.Repeat(1f, (int)inputs).ToArray();
        foreach (var consumer in reads)
            for (int c = 0; c < keep.Length; c++)
                if (!keep[c] && consumer.InputOf(c) is { } first)
                    for (int i = 0; i < consumer.BlockSize; i++) flags[first + i] = 0f;
        var mask = tensor(flags).DetachFromDisposeScope();
        bool linear = layer.Module is TorchSharp.Modules.Linear;
        // Channels are the last dimension of a Linear's input, dimension 1 of a convolution's ([N, C, spatial...]).
        var remover = layer.Module.register_forward_pre_hook((_, input) => input * (linear
            ? mask.to(input.dtype, input.device)
            : mask.to(input.dtype, input.device).reshape([inputs, .. Enumerable.Repeat(1L, (int)input.dim() - 2)])));
        undo.Add(() =>
        {
            remover.remove();
            mask.Dispose();
        });
    }

    private void Overwrite(WeightLayer layer, ChannelConsumer consumer, bool[] keep, Tensor block)
    {
        using var _ = no_grad();
        var saved = layer.Weight.detach().clone().DetachFromDisposeScope();
        undo.Add(() =>
        {
            using var restore = no_grad();
            layer.Weight.copy_(saved);
            saved.Dispose();
        });
        using var scope = NewDisposeScope();
        long cout = layer.Weight.shape[0], width = block.shape[2];
        var index = tensor(Enumerable.Range(0, keep.Length).Where(c => keep[c]).Select(c => (long)c).ToArray());
        var groupColumns = layer.Weight.view(cout, -1).narrow(1, consumer.Offset * layer.KernelArea, keep.Length * width).view(cout, keep.Length, width);
        groupColumns.index_copy_(1, index, block.to(groupColumns.dtype));
    }
}
