using Microsoft.Extensions.Logging;
using Trainer.Core.Checkpoints;
using Trainer.Core.Compression;
using Trainer.Core.Models;
using Trainer.Core.Pruning;
using Trainer.Core.Tasks;
using Trainer.Host.Options;
using TorchSharp;

namespace Trainer.Host.Jobs;

/// <summary>Builds the model the "Model" section names and loads its checkpoint, compression manifest or PyTorch weights, if any.</summary>
public static class ModelLoader
{
    /// <summary>Builds the configured model; configuration mistakes become <see cref="JobException"/>s naming the key.</summary>
    /// <param name="options">The Model section: a catalog model (Model:Name), a user's class (Model:Assembly + Model:Type), or,
    /// when both are empty, the task's own model.</param>
    /// <param name="logger">Where loading is logged.</param>
    /// <param name="task">The configured task, asked only when the model is the task's or needs the task's input shape.</param>
    /// <param name="checkpoint">Weights to load instead of Model:Checkpoint (a pipeline's own training stage).</param>
    /// <param name="manifest">A compression manifest to load instead of Model:Manifest (a pipeline's own compress stage).</param>
    public static LoadedModel Load(ModelOptions options, ILogger logger, Func<TrainingTask>? task = null, string? checkpoint = null, string? manifest = null)
    {
        string name;
        Func<torch.nn.Module<torch.Tensor, torch.Tensor>> create;
        torch.nn.Module<torch.Tensor, torch.Tensor> network;
        long[]? defaultShape = null;
        try
        {
            Func<torch.nn.Module<torch.Tensor, torch.Tensor>> build;
            if (options.Type.Length > 0)
            {
                if (options.Assembly.Length == 0) throw new JobException("Model:Type needs Model:Assembly, the path of the assembly that holds it.");
                build = () => ModelCatalog.CreateFromAssembly(options.Assembly, options.Type);
                name = options.Type.Split('.')[^1];
            }
            else if (options.Name.Length > 0)
            {
                var entry = ModelCatalog.Get(options.Name);
                build = entry.Create;
                name = entry.Name;
                defaultShape = entry.DefaultInputShape;
            }
            else
            {
                var owner = task?.Invoke() ?? throw new JobException(
                    "Model:Name is empty, which means the task's own model, but this command has no task; set Model:Name to a catalog model " +
                    "or Model:Assembly and Model:Type to a class of yours.");
                build = () => owner.CreateModel() ?? throw new JobException(
                    $"Model:Name is empty, which means the task's own model, but the task '{owner.Name}' has none; set Model:Name to a " +
                    $"catalog model ({string.Join(", ", ModelCatalog.Names.Take(4))}, ...) or Model:Assembly and Model:Type to a class of yours.");
                name = owner.ModelName;
                defaultShape = owner.ExampleInputShape;
            }
            create = Fresh(build);
            network = create();
            if (options.Type.Length > 0) defaultShape = options.ParseInputShape() is null && task is not null ? task().ExampleInputShape : null;
        }
        catch (Exception e) when (e is ArgumentException or FileNotFoundException or BadImageFormatException)
        {
            throw new JobException(e.Message);
        }

        // A manifest records the input shape it was made for, so loading one needs no shape from elsewhere.
        var fromManifest = manifest is not null || options.Manifest.Length > 0;
        var shape = options.ParseInputShape() ?? defaultShape;
        if (shape is null && (!string.IsNullOrWhiteSpace(options.InputShape) || !fromManifest))
            throw new JobException(string.IsNullOrWhiteSpace(options.InputShape)
                ? $"Model:InputShape is needed for '{options.Type}', e.g. --Model:InputShape=1,3,224,224."
                : $"Model:InputShape = '{options.InputShape}' is invalid; accepted: positive sizes separated by commas, e.g. 1,3,224,224.");
        var identity = new ModelIdentity(name, options.Type, options.Assembly, shape ?? []);

        if (manifest is not null)
        {
            network.Dispose();
            return LoadCompressed(manifest, identity, create, logger);
        }
        if (options.Manifest.Length > 0)
        {
            if (options.Checkpoint.Length > 0 || checkpoint is not null)
                throw new JobException("Model:Manifest and Model:Checkpoint are both set; a manifest brings its own weights, so set only one.");
            network.Dispose();
            return LoadCompressed(options.Manifest, identity, create, logger);
        }
        checkpoint ??= options.Checkpoint.Length > 0 ? options.Checkpoint : null;
        if (checkpoint is not null)
        {
            // A pruning run's checkpoint (weight_orig, weight_mask) loads with its pruning made permanent; a sparse export loads as it is.
            var permanent = PrunedWeights.Load(checkpoint, network, out var state);
            logger.LogInformation("Loaded the weights of '{Checkpoint}' (epoch {Epoch}){Pruned}.", checkpoint, state.Epoch + 1,
                permanent.Count > 0 ? $", with the pruning of {permanent.Count} tensor(s) made permanent" : "");
        }
        else if (options.PyTorchWeights.Length > 0) LoadPyTorchWeights(options.PyTorchWeights, network, logger);
        return new LoadedModel(name, network, shape!, identity, create);   // set: no manifest was loaded
    }

    /// <summary>
    /// Loads the trained model a pipeline stage works on (<paramref name="verb"/>: "compress", "quantize"), which must bring
    /// weights (a checkpoint or a manifest) and take the task's inputs, the data the stages finetune and score on.
    /// </summary>
    public static LoadedModel LoadTrained(ModelOptions options, ILogger logger, string verb, TrainingTask task, string? checkpoint = null,
        string? manifest = null)
    {
        var model = Load(options, logger, () => task, checkpoint, manifest);
        if (model.Manifest is null && checkpoint is null && options.Checkpoint.Length == 0 && options.PyTorchWeights.Length == 0)
        {
            model.Network.Dispose();
            throw new JobException($"trainer {verb} needs a trained model: set Model:Checkpoint to a checkpoint of `trainer train` " +
                                   "(e.g. checkpoints/<run>/best.ckpt), Model:Manifest to a model of `trainer compress`, " +
                                   "or Model:PyTorchWeights to a state_dict saved by PyTorch.");
        }
        try
        {
            CheckTakes(model, task);
        }
        catch (JobException)
        {
            model.Network.Dispose();
            throw;
        }
        return model;
    }

    /// <summary>Loads Model:PyTorchWeights into <paramref name="network"/>; a file that is not a fitting state_dict is a JobException naming the key.</summary>
    private static void LoadPyTorchWeights(string path, torch.nn.Module network, ILogger logger)
    {
        try
        {
            var count = PyTorchWeights.Load(path, network);
            logger.LogInformation("Loaded {Count} tensors of the PyTorch state_dict '{File}'.", count, path);
        }
        catch (InvalidDataException e)
        {
            network.Dispose();
            throw new JobException($"{e.Message} (Model:PyTorchWeights)");
        }
    }

    /// <summary>Refuses a model that does not take the task's example input: another input shape (both named), or a layer that
    /// rejects it in a forward pass (its path, type and both shapes).</summary>
    public static void CheckTakes(LoadedModel model, TrainingTask task)
    {
        try
        {
            ExampleInputCheck.Ensure(model.Network, model.Name, model.InputShape, task);
        }
        catch (ArgumentException e)
        {
            throw new JobException(e.Message);
        }
    }

    private static LoadedModel LoadCompressed(string manifestPath, ModelIdentity identity, Func<torch.nn.Module<torch.Tensor, torch.Tensor>> create,
        ILogger logger)
    {
        var manifest = CompressionManifest.Load(manifestPath);
        if (manifest.Model.Name != identity.Name || manifest.Model.Type != identity.Type)
            throw new JobException($"Model:Manifest '{manifestPath}' was made for the model '{manifest.Model.Name}', but the Model section " +
                                   $"builds '{identity.Name}'; set Model:Name (or Model:Type and Model:Assembly) to the manifest's model.");
        try
        {
            var network = CompressedModel.Load(manifestPath, create, out manifest, logger);
            logger.LogInformation("Rebuilt '{Name}' from '{Manifest}': {Iterations} compression iteration(s), {Edits} edit(s).",
                identity.Name, manifestPath, manifest.Iterations.Count, manifest.AllEdits.Count);
            return new LoadedModel(identity.Name, network, manifest.Model.InputShape, manifest.Model, create, manifest);
        }
        catch (ArgumentException e) when (e is not ManifestMismatchException)
        {
            throw JobException.From(e, $"Model:Manifest '{manifestPath}'");
        }
    }

    /// <summary>
    /// Builds fresh instances of the architecture a manifest names (a catalog model, or a user's class); a name this build
    /// cannot build is an <see cref="InvalidDataException"/> naming <paramref name="source"/>, the file it was read from. A task's
    /// own model is built by <paramref name="task"/>, asked only then.
    /// </summary>
    public static Func<torch.nn.Module<torch.Tensor, torch.Tensor>> Creator(ModelIdentity identity, string source, Func<TrainingTask>? task = null) =>
        Fresh(Build(identity, source, task));

    /// <summary>The architecture's own constructor for <see cref="Creator"/>.</summary>
    private static Func<torch.nn.Module<torch.Tensor, torch.Tensor>> Build(ModelIdentity identity, string source, Func<TrainingTask>? task)
    {
        if (identity.Type.Length > 0) return () => ModelCatalog.CreateFromAssembly(identity.Assembly, identity.Type);
        if (ModelCatalog.Names.Contains(identity.Name, StringComparer.OrdinalIgnoreCase)) return ModelCatalog.Get(identity.Name).Create;
        var owner = task?.Invoke();
        if (owner is not null && owner.ModelName == identity.Name && owner.CreateModel() is { } probe)
        {
            probe.Dispose();
            return () => owner.CreateModel()!;
        }
        throw new InvalidDataException($"'{source}' names the model '{identity.Name}', which is no catalog model" +
                                       (owner is null ? "" : $" and not the task '{owner.Name}''s own ('{owner.ModelName}')") +
                                       "; configure the task that made it (Task:Name, or Task:Assembly and Task:Type, with its Task:Settings).");
    }

    /// <summary>The factory of every model this loader builds (<see cref="Load"/>, <see cref="Creator"/>): the architecture's
    /// own constructor, then PyTorch's GroupNorm initialisation, which TorchSharp 0.107 leaves out (<see cref="GroupNormDefaults"/>).</summary>
    private static Func<torch.nn.Module<torch.Tensor, torch.Tensor>> Fresh(Func<torch.nn.Module<torch.Tensor, torch.Tensor>> build) =>
        GroupNormDefaults.Wrap(build);
}
