using Trainer.Core.Analysis;
using static TorchSharp.torch;

namespace Trainer.Core.Tasks;

/// <summary>
/// Checks before any work that a model takes a task's inputs: the input shape it was set up for, then one forward pass of
/// the task's example input, so a model built for other data fails at start-up naming the layer that rejects it.
/// </summary>
public static class ExampleInputCheck
{
    /// <summary>Refuses <paramref name="model"/> (named <paramref name="modelName"/>, set up for inputs of
    /// <paramref name="modelShape"/>) when it does not take <paramref name="task"/>'s example input.</summary>
    /// <exception cref="ArgumentException">The shapes differ (both named), or a layer rejects the example input (its path,
    /// its type, the shape it received and the shape it takes).</exception>
    public static void Ensure(nn.Module<Tensor, Tensor> model, string modelName, long[] modelShape, TrainingTask task)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(modelShape);
        ArgumentNullException.ThrowIfNull(task);
        var taskShape = task.ExampleInputShape;
        if (!modelShape.Skip(1).SequenceEqual(taskShape.Skip(1)))
            throw new ArgumentException($"The task '{task.Name}' gives inputs of shape [N,{string.Join(",", taskShape.Skip(1))}], but " +
                                        $"'{modelName}' is set up for [{string.Join(",", modelShape)}] (Model:InputShape); set Model:InputShape " +
                                        "or choose the task the model was built for (Task:Name, Task:Type).");
        try
        {
            FlopsCounter.Count(model, taskShape);
        }
        catch (ModelAnalysisException e)
        {
            throw new ArgumentException($"'{modelName}' does not take the task '{task.Name}''s example input [{string.Join(",", taskShape)}]: " +
                                        $"{e.Message.Split('\n')[0].Trim()} Choose the model built for this task's data, or the task built " +
                                        "for this model (Task:Name, Task:Type).", e);
        }
    }
}
