using Microsoft.Extensions.Logging;
using Trainer.Core.Checkpoints;
using Trainer.Core.Models;
using Trainer.Host.Options;
using TorchSharp;

namespace Trainer.Host.Jobs;

/// <summary>A model a job works on, with its input shape and a name for files and tables.</summary>
public sealed record LoadedModel(string Name, torch.nn.Module<torch.Tensor, torch.Tensor> Network, long[] InputShape);

/// <summary>Builds the model the "Model" section names and loads its checkpoint, if any.</summary>
public static class ModelLoader
{
    /// <summary>Builds the configured model; configuration mistakes become <see cref="JobException"/>s naming the key.</summary>
    public static LoadedModel Load(ModelOptions options, ILogger logger)
    {
        string name;
        torch.nn.Module<torch.Tensor, torch.Tensor> network;
        long[]? defaultShape = null;
        try
        {
            if (options.Type.Length > 0)
            {
                if (options.Assembly.Length == 0) throw new JobException("Model:Type needs Model:Assembly, the path of the assembly that holds it.");
                network = ModelCatalog.CreateFromAssembly(options.Assembly, options.Type);
                name = options.Type.Split('.')[^1];
            }
            else
            {
                var entry = ModelCatalog.Get(options.Name);
                network = entry.Create();
                name = entry.Name;
                defaultShape = entry.DefaultInputShape;
            }
        }
        catch (Exception e) when (e is ArgumentException or FileNotFoundException or BadImageFormatException)
        {
            throw new JobException(e.Message);
        }

        var shape = options.ParseInputShape() ?? defaultShape ?? throw new JobException(
            string.IsNullOrWhiteSpace(options.InputShape)
                ? $"Model:InputShape is needed for '{options.Type}', e.g. --Model:InputShape=1,3,224,224."
                : $"Model:InputShape = '{options.InputShape}' is invalid; accepted: positive sizes separated by commas, e.g. 1,3,224,224.");
        if (options.Checkpoint.Length > 0)
        {
            var state = CheckpointFile.LoadWeights(options.Checkpoint, network);
            logger.LogInformation("Loaded the weights of '{Checkpoint}' (epoch {Epoch}).", options.Checkpoint, state.Epoch + 1);
        }
        return new LoadedModel(name, network, shape);
    }
}
