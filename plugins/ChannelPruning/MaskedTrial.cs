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
            foreach (var consumer in group.Consumers)
            {
                var layer = WeightLayer.Find(model, consumer.Layer)
                            ?? throw new InvalidOperationException($"Consumer {consumer.Layer} of group {group.Id} is not a Conv2d or Linear of the model.");
                Mask(layer, consumer, keep);
                if (refitByConsumer.TryGetValue(consumer.Layer, out var block)) Overwrite(layer, consumer, keep, block);
            }
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

    private void Mask(WeightLayer layer, ChannelConsumer consumer, bool[] keep)
    {
        long inputs = layer.Weight.shape[1];
        var flags = Enumerable.Repeat(1f, (int)inputs).ToArray();
        for (int c = 0; c < keep.Length; c++)
            if (!keep[c])
                for (int i = 0; i < consumer.BlockSize; i++) flags[consumer.Offset + c * consumer.BlockSize + i] = 0f;
        long[] shape = layer.Weight.dim() == 4 ? [1, inputs, 1, 1] : [1, inputs];
        var mask = tensor(flags).reshape(shape).DetachFromDisposeScope();
        var remover = layer.Module.register_forward_pre_hook((_, input) => input * mask.to(input.dtype, input.device));
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
