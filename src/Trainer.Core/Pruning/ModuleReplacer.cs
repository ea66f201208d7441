using System.Collections;
using System.Reflection;
using TorchSharp.Modules;
using static TorchSharp.torch;
using TorchModule = TorchSharp.torch.nn.Module;

namespace Trainer.Core.Pruning;

/// <summary>
/// Replaces a submodule, given by its module path ("layer1.0.conv1", "features.3"), in user models and
/// TorchVision models alike. TorchSharp modules call their children through C# fields, so re-registering
/// a name is not enough: the field that holds the child (found by walking the parent's base types) is set
/// by reflection, then the name is unregistered and registered again (it moves to the end of
/// <c>named_children()</c>; state_dict keys are unchanged in form). Sequential keeps its children in a
/// private list, which is set in place (order kept); ModuleList likewise.
/// </summary>
/// <remarks>The replaced module is not disposed (the replacement may reuse it); rebuild optimizers afterwards.</remarks>
public static class ModuleReplacer
{
    private const BindingFlags Fields = BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly;

    /// <summary>Replaces the module at <paramref name="path"/> under <paramref name="root"/> by <paramref name="replacement"/>.</summary>
    /// <returns>The module that was replaced.</returns>
    /// <exception cref="ArgumentException">The path names no module, or the replacement cannot take its place (the message names
    /// the path and why: wrong field type, not a single-tensor module inside a Sequential, no field holding the child).</exception>
    public static TorchModule Replace(TorchModule root, string path, TorchModule replacement)
    {
        ArgumentNullException.ThrowIfNull(root);
        ArgumentNullException.ThrowIfNull(replacement);
        if (string.IsNullOrWhiteSpace(path))
            throw new ArgumentException("the module path is empty; the root itself cannot be replaced", nameof(path));

        var parts = path.Split('.');
        var parent = root;
        for (int i = 0; i < parts.Length - 1; i++) parent = Child(parent, parts[i], path, string.Join('.', parts[..i]));
        string name = parts[^1];
        var old = Child(parent, name, path, string.Join('.', parts[..^1]));
        if (ReferenceEquals(old, replacement)) return old;

        switch (parent)
        {
            case Sequential sequential:
                SetInList(sequential, "_modules", IndexIn(sequential, name), replacement, path);
                break;
            default:
                if (IsModuleList(parent))
                {
                    SetInList(parent, "_list", int.Parse(name, System.Globalization.CultureInfo.InvariantCulture), replacement, path);
                    break;
                }
                SetField(parent, name, old, replacement, path);
                break;
        }
        if (parent.named_children().Any(c => c.name == name) && parent is not Sequential)
        {
            parent.register_module(name, null!);
            parent.register_module(name, replacement);
        }
        return old;
    }

    private static TorchModule Child(TorchModule parent, string name, string path, string parentPath)
    {
        foreach (var (childName, child) in parent.named_children())
            if (childName == name) return child;
        var children = string.Join(", ", parent.named_children().Select(c => c.name));
        throw new ArgumentException(
            $"cannot replace '{path}': '{(parentPath.Length == 0 ? "(model)" : parentPath)}' ({parent.GetType().Name}) has no child " +
            $"'{name}' (children: {(children.Length == 0 ? "none" : children)})", nameof(path));
    }

    private static void SetField(TorchModule parent, string name, TorchModule old, TorchModule replacement, string path)
    {
        var fields = new List<FieldInfo>();
        for (var type = parent.GetType(); type is not null && type != typeof(TorchModule); type = type.BaseType)
            fields.AddRange(type.GetFields(Fields));
        // The field named like the child first (RegisterComponents uses field names), then any field holding it.
        var holders = fields.Where(f => f.Name == name && ReferenceEquals(f.GetValue(parent), old))
            .Concat(fields.Where(f => f.Name != name && ReferenceEquals(f.GetValue(parent), old))).ToList();
        if (holders.Count == 0)
            throw new ArgumentException(
                $"cannot replace '{path}': no field of {parent.GetType().Name} holds the child, so its forward would keep using the old module",
                nameof(path));
        foreach (var field in holders)
            if (!field.FieldType.IsInstanceOfType(replacement))
                throw new ArgumentException(
                    $"cannot replace '{path}': field '{field.Name}' of {parent.GetType().Name} is a {field.FieldType.Name}; " +
                    $"a {replacement.GetType().Name} cannot be assigned to it", nameof(replacement));
        foreach (var field in holders) field.SetValue(parent, replacement);
    }

    private static int IndexIn(Sequential sequential, string name)
    {
        var names = (List<string>)Private(sequential, typeof(Sequential), "_names");
        return names.IndexOf(name);
    }

    private static void SetInList(TorchModule parent, string fieldName, int index, TorchModule replacement, string path)
    {
        var list = (IList)Private(parent, parent.GetType(), fieldName);
        try
        {
            list[index] = replacement;
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException(
                $"cannot replace '{path}': {parent.GetType().Name} cannot hold a {replacement.GetType().Name} ({e.Message})",
                nameof(replacement), e);
        }
    }

    private static bool IsModuleList(TorchModule module)
    {
        for (var type = module.GetType(); type is not null; type = type.BaseType)
            if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(ModuleList<>)) return true;
        return false;
    }

    private static object Private(object target, Type start, string fieldName)
    {
        for (var type = start; type is not null; type = type.BaseType)
            if (type.GetField(fieldName, Fields) is { } field)
                return field.GetValue(target) ?? throw new InvalidOperationException($"{type.Name}.{fieldName} is null");
        throw new MissingFieldException(start.FullName, $"{fieldName} (TorchSharp version changed?)");
    }
}
