using Trainer.Abstractions;
using Trainer.Core.Models;
using TorchSharp;

namespace Trainer.Core.Training;

/// <summary>Top-1 accuracy of a classifier outside a training loop (pipelines, analysis), in eval and inference mode.</summary>
public static class ClassificationAccuracy
{
    /// <summary>Accuracy over one pass of <paramref name="loader"/> (epoch 0). The network's training flags are restored.</summary>
    public static double Of(torch.nn.Module<torch.Tensor, torch.Tensor> network, IBatchLoader loader, torch.Device? device = null)
    {
        long correct = 0, seen = 0;
        using (new EvalModeScope(network))
        using (torch.inference_mode())
        {
            foreach (var batch in loader.GetBatches(0))
            {
                using var scope = torch.NewDisposeScope();
                var inputs = device is null ? batch.Inputs : batch.Inputs.to(device);
                var targets = device is null ? batch.Targets : batch.Targets.to(device);
                correct += network.call(inputs).argmax(1).eq(targets).sum().item<long>();
                seen += batch.Size;
            }
        }
        if (seen == 0) throw new ArgumentException("The loader yielded no batches, so there is no accuracy to measure.", nameof(loader));
        return (double)correct / seen;
    }

    /// <summary>Accuracy on already-normalised <paramref name="images"/> with class-index <paramref name="labels"/>, in chunks of 500.</summary>
    public static double Of(torch.nn.Module<torch.Tensor, torch.Tensor> network, torch.Tensor images, torch.Tensor labels)
    {
        if (images.shape[0] == 0) throw new ArgumentException("No images to measure accuracy on.", nameof(images));
        long correct = 0;
        using (new EvalModeScope(network))
        using (torch.inference_mode())
        {
            for (long start = 0; start < images.shape[0]; start += 500)
            {
                using var scope = torch.NewDisposeScope();
                var length = Math.Min(500, images.shape[0] - start);
                correct += network.call(images.narrow(0, start, length)).argmax(1).eq(labels.narrow(0, start, length)).sum().item<long>();
            }
        }
        return (double)correct / images.shape[0];
    }
}
